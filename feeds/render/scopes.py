"""Scopes: the sets of posts that have their own feeds and page — the site, each tag, author, section, language.

Pure: computed from the published posts and the settings in one pass over the
posts. A post with ``feed: false`` is in no scope; a section with
``site_feeds = false`` keeps its posts out of the site's scope only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site
from feeds.models import Post, Tag
from feeds.options import FeedOptions
from feeds.podcast import Show

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The kinds of scope, in the order the index, the lists and OPML show them.
KINDS = ("site", "section", "author", "tag", "language")


@dataclass(frozen=True)
class Scope:
    """One set of posts with its own feeds, archives and HTML page."""

    #: ``site``, ``tag``, ``author``, ``section`` or ``language``.
    kind: str
    #: URL slug (``""`` for the site) and display name.
    slug: str
    name: str
    #: Path of its HTML page; its feeds are ``<prefix>feed.xml`` and so on.
    prefix: str
    title: str
    description: str
    #: Its posts, newest first.
    posts: tuple[Post, ...]
    #: Its feed options, every one set.
    options: FeedOptions
    #: BCP 47 language of its feeds.
    language: str
    #: Newest change among its posts.
    newest: datetime
    #: The podcast show its feeds are (``[podcast]``, ``[sections.<slug>.podcast]``, ``[tags.<slug>.podcast]``), if any.
    podcast: Show | None = None

    @property
    def key(self) -> str:
        """What the bytes of its feed documents depend on besides their posts: its metadata, options and show."""
        return repr((self.kind, self.slug, self.title, self.description, self.language, self.options, self.podcast))

    @property
    def size(self) -> int:
        """Posts per feed document (``items_per_feed``)."""
        assert self.options.items_per_feed is not None
        return self.options.items_per_feed

    @property
    def archives(self) -> int:
        """How many full archives it has (RFC 5005 §4: only full chunks of the oldest posts are archives)."""
        return len(self.posts) // self.size


@dataclass(frozen=True)
class Scopes:
    """Every scope of a site, and each post's scopes by kind (for links on its page)."""

    #: In :data:`KINDS` order, each kind by slug.
    all: tuple[Scope, ...]
    #: Display tags and author scopes of every published post, by id.
    tags_of: Mapping[str, tuple[Tag, ...]]
    authors_of: Mapping[str, tuple[Tag, ...]]

    def of_kind(self, kind: str) -> list[Scope]:
        return [scope for scope in self.all if scope.kind == kind]

    @cached_property
    def by_prefix(self) -> dict[str, Scope]:
        return {scope.prefix: scope for scope in self.all}


def scopes(site: Site, config: Config) -> Scopes:
    """Every scope of ``site`` under ``config``; tag, author, section and language scopes have at least one post."""
    tags_of = {post.id: site.tags.tags_of(post) for post in site.posts}
    unnamed = site.authors_of_nobody()  # the site author's scope, for the many posts that name no author
    authors_of = {post.id: site.authors_of(post) if post.authors else unnamed for post in site.posts}
    by_tag: dict[str, list[Post]] = {tag.slug: [] for tag in site.tags.tags}
    by_author: dict[str, list[Post]] = {tag.slug: [] for tag in site.authors.tags}
    by_section: dict[str, list[Post]] = {}
    by_language: dict[str, list[Post]] = {}
    left_out = {section.slug for section in config.sections if not section.site_feeds}
    in_site: list[Post] = []
    # A post in the site's language has language None, so one look tells whether there are language scopes.
    several_languages = any(post.language is not None and post.feed for post in site.posts)
    for post in site.posts:  # newest first, so every list is too
        if not post.feed:
            continue
        if post.section not in left_out:
            in_site.append(post)
        for tag in tags_of[post.id]:
            by_tag[tag.slug].append(post)
        for author in authors_of[post.id]:
            by_author[author.slug].append(post)
        if post.section is not None:
            by_section.setdefault(post.section, []).append(post)
        if several_languages:
            by_language.setdefault((post.language or config.language).lower(), []).append(post)

    made = [_scope(config, "site", "", config.title, in_site)]
    made += [section_scope(config, slug, posts) for slug, posts in sorted(by_section.items())]
    names = {tag.slug: tag.name for tag in site.authors.tags}
    made += [_scope(config, "author", slug, names[slug], posts) for slug, posts in by_author.items() if posts]
    made += [_scope(config, "tag", tag.slug, tag.name, by_tag[tag.slug]) for tag in site.tags.tags if by_tag[tag.slug]]
    if len(by_language) > 1:  # a site in one language has no language scopes: they would repeat the site's
        spelled = {(post.language or config.language).lower(): post.language or config.language for post in site.posts}
        made += [_scope(config, "language", tag, spelled[tag], posts) for tag, posts in sorted(by_language.items())]
    return Scopes(tuple(made), tags_of, authors_of)


def in_order(made: Iterable[Scope], site: Site) -> tuple[Scope, ...]:
    """Scopes in the order :func:`scopes` makes them (:data:`KINDS`; sections and languages by slug, tags and authors as indexed)."""
    by_kind: dict[str, list[Scope]] = {kind: [] for kind in KINDS}
    for scope in made:
        by_kind[scope.kind].append(scope)
    authors = {t.slug: n for n, t in enumerate(site.authors.tags)}
    tags = {t.slug: n for n, t in enumerate(site.tags.tags)}
    by_kind["section"].sort(key=lambda s: s.slug)
    by_kind["author"].sort(key=lambda s: authors[s.slug])
    by_kind["tag"].sort(key=lambda s: tags[s.slug])
    by_kind["language"].sort(key=lambda s: s.slug)
    return tuple(scope for kind in KINDS for scope in by_kind[kind])


def section_scope(config: Config, slug: str, posts: Sequence[Post], newest: datetime | None = None) -> Scope:
    """The scope of the section ``slug`` (its title and description from the settings)."""
    section = config.section(slug)
    title = section.title if section and section.title else slug
    return _scope(config, "section", slug, title, posts, section.description if section else None, newest)


def scope_of(config: Config, kind: str, slug: str, name: str, posts: Sequence[Post], newest: datetime | None = None) -> Scope:
    """One scope of any kind (``newest``: its newest change, when the caller knows it)."""
    return section_scope(config, slug, posts, newest) if kind == "section" else _scope(config, kind, slug, name, posts, None, newest)


_DESCRIPTIONS = {
    "tag": "Posts tagged {name} on {site}.",
    "author": "Posts by {name} on {site}.",
    "section": "Posts in {name} on {site}.",
    "language": "Posts in {name} on {site}.",
}


def _scope(
    config: Config, kind: str, slug: str, name: str, posts: Sequence[Post], description: str | None = None, newest: datetime | None = None
) -> Scope:
    title = config.title if kind == "site" else f"{config.title}: {name}"
    if description is None:
        description = config.description if kind == "site" else _DESCRIPTIONS[kind].format(name=name, site=config.title)
    return Scope(
        kind=kind,
        slug=slug,
        name=name,
        prefix=urls.scope_prefix(kind, slug),
        title=title,
        description=description,
        posts=tuple(posts),
        options=config.options(kind, slug),
        language=name if kind == "language" else config.language,
        newest=newest if newest is not None else max((p.updated for p in posts), default=EPOCH),
        podcast=config.show(kind, slug),
    )
