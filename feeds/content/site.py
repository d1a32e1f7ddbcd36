"""Choose what is published now: drafts and future posts out, duplicates resolved."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from feeds.content.tags import TagIndex, identity, index_names, index_tags
from feeds.models import Post, Problem, Tag


@dataclass(frozen=True)
class Site:
    #: Published posts, newest first.
    posts: tuple[Post, ...]
    tags: TagIndex
    #: Duplicate ids/URLs and tag collisions.
    problems: tuple[Problem, ...]
    #: When the next future-dated post becomes visible, if any.
    next_change: datetime | None
    #: Every author with a published post (the site author for posts that name none), as tags are indexed.
    authors: TagIndex = TagIndex((), {}, ())
    #: The site author's name, the author of posts that name none.
    site_author: str = ""

    def authors_of_nobody(self) -> tuple[Tag, ...]:
        """Return the author scope of posts that name no author: the site author's."""
        tag = self.authors.by_identity.get(identity(self.site_author))
        return (tag,) if tag is not None else ()

    def authors_of(self, post: Post) -> tuple[Tag, ...]:
        """Return the author scopes of ``post`` (the site author's when it names none)."""
        if not post.authors:
            return self.authors_of_nobody()
        seen: dict[str, Tag] = {}
        for author in post.authors:
            tag = self.authors.by_identity.get(identity(author.name))
            if tag is not None:
                seen.setdefault(tag.slug, tag)
        return tuple(seen.values())


def newest_first(post: Post) -> tuple[float, float, str]:
    """Sort key: newest publication first; ties broken by update time, then id."""
    published = -post.published.timestamp()
    # A post never updated holds the very same datetime twice: one conversion is enough.
    return (published, published if post.updated is post.published else -post.updated.timestamp(), post.id)


_published_then_source = operator.attrgetter("published", "source")


def select(posts: Iterable[Post], now: datetime, site_author: str = "") -> Site:
    """Return the site as published at ``now``; ``site_author`` writes the posts that name no author."""
    live: list[Post] = []
    upcoming: list[datetime] = []
    for post in posts:
        if post.draft:
            continue
        if post.published > now:
            upcoming.append(post.published)
            continue
        live.append(post)

    problems: list[Problem] = []
    # When no id or URL is contested every post is kept, and (ids unique) the order below does not depend on this one.
    contested = not len({post.id for post in live}) == len({post.url for post in live}) == len(live)
    kept = _first_owners(live, problems) if contested else live
    kept.sort(key=newest_first)
    tags = index_tags(p for p in kept if p.feed)  # a tag's scope holds posts in feeds
    fallback = (site_author,) if site_author else ()
    authors = index_names(((p.source, tuple(a.name for a in p.authors) or fallback) for p in kept if p.feed), "author", "/authors/")
    problems += tags.problems + authors.problems
    return Site(tuple(kept), tags, tuple(problems), min(upcoming, default=None), authors, site_author)


def _first_owners(live: list[Post], problems: list[Problem]) -> list[Post]:
    """Return the posts that keep their id and URL, reporting the others."""
    # The earliest post (then the first file name) keeps a contested id or URL;
    # the later one is skipped and reported, so identity never jumps between posts.
    live.sort(key=_published_then_source)
    by_id: dict[str, Post] = {}
    by_url: dict[str, Post] = {}
    kept: list[Post] = []
    for post in live:
        kind, owner = "id", by_id.get(post.id)
        if owner is None:
            kind, owner = "URL", by_url.get(post.url)
        if owner is not None:
            problems.append(Problem(post.source, 1, f"duplicate {kind}: {owner.source} already publishes it; this post is skipped"))
            continue
        by_id[post.id] = by_url[post.url] = post
        kept.append(post)
    return kept
