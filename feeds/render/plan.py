"""What a site publishes: every document, what its bytes are made of, and which are needed first.

Pure: a Plan is computed from the published posts without rendering anything.
Each document carries a digest of everything its bytes depend on (the posts it
shows, their tags, the page's metadata, the settings and this code), so the
builder can tell which documents must be rendered again after a change — and
which bytes an earlier snapshot, even one written by another process, already
has — by comparing digests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site
from feeds.fingerprint import code_digest, settings_digest
from feeds.models import FeedPage, Post, Tag
from feeds.render.activity import ACTIVITY_JSON
from feeds.render.formats import FORMATS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
#: Browser views of feed pages live under this prefix; the web layer never serves it directly.
VIEWS = "/_views"
VIEW_FILE = "view.html"
#: The fediverse's snapshot documents (Articles, outboxes) live under this prefix + their public path (``/ap/…``);
#: like the views, only the app serves them (at /ap/…, or negotiated at a post's URL), so none is exported.
ACTIVITY = "/_activity"
#: Which object each post path shows (for the negotiation at post URLs).
POST_INDEX = ACTIVITY + "/posts.json"
#: OPML subscription lists by path, each naming one format's URL of every scope.
OPML_FILES = {"/feeds.opml": "feed.xml", "/feeds-atom.opml": "atom.xml", "/feeds-json.opml": "feed.json"}


def view_path(prefix: str, page: int) -> str:
    """The path under which the browser view of a scope's feed page is stored."""
    return VIEWS + urls.feed_path(prefix, VIEW_FILE, page)


@dataclass(frozen=True)
class Doc:
    """One document to render: its path, its inputs and the digest of those inputs."""

    path: str
    #: ``feed`` (a format of a feed page), ``view`` (its browser view), ``home``, ``tags``, ``tag`` or ``opml``.
    kind: str
    media_type: str
    digest: str
    #: Needed first: page 1 of every feed and view, the HTML pages and OPML (published before older pages).
    first: bool
    #: Newest change among the posts the document shows (for Last-Modified).
    newest: datetime | None
    #: The feed page (without entries) for feeds and views; its posts and their display tags.
    page: FeedPage | None = None
    posts: tuple[Post, ...] = ()
    post_tags: tuple[tuple[Tag, ...], ...] = ()
    #: The feed format's file name (``feed.xml``) for feeds; the OPML's feed file name for OPML.
    filename: str | None = None
    #: For the tag list: every tag and its post count; for a tag page: its tag and count.
    tag: Tag | None = None
    count: int = 0
    tag_counts: tuple[tuple[Tag, int], ...] = ()
    #: For the post index of the fediverse: (post path, object path) of every post.
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    """Every document of a site, first-needed ones first, and the site's version."""

    docs: tuple[Doc, ...]
    #: Hash of every document's digest: equal content, settings and code give an equal version everywhere.
    version: str
    by_path: Mapping[str, Doc] = field(default_factory=dict)
    #: The documents of each feed page by what they are made of, for the next plan to reuse (an edit changes few).
    pages: Mapping[tuple[object, ...], tuple[Doc, ...]] = field(default_factory=dict, repr=False)

    def find(self, path: str) -> Doc | None:
        return self.by_path.get(path)


class _Digests:
    """Digests of posts-with-tags and of page metadata, each computed once per plan."""

    def __init__(self, base: str) -> None:
        self.base = base

    def of(self, *parts: str) -> str:
        digest = hashlib.sha256(self.base.encode())
        for part in parts:
            digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:32]


def plan(site: Site, config: Config, previous: Plan | None = None) -> Plan:
    """Every document ``site`` publishes under ``config``, page 1s and HTML pages first.

    ``previous`` (a plan of the same settings) lends the documents of every feed page whose
    posts, tags and metadata are unchanged, so a plan after an edit costs little more than a scan.
    """
    digests = _Digests(f"{code_digest()}:{settings_digest(config)}")
    tags_of = {post.id: site.tags.tags_of(post) for post in site.posts}
    entry_keys = {post.id: post.digest + "".join(f"\x1e{t.slug}\x1f{t.name}" for t in tags_of[post.id]) for post in site.posts}
    reusable = previous.pages if previous is not None else {}
    pages: dict[tuple[object, ...], tuple[Doc, ...]] = {}
    by_tag: dict[str, list[Post]] = {tag.slug: [] for tag in site.tags.tags}
    tag_newest: dict[str, datetime] = {}  # the newest change in each tag (posts come newest first, not by update)
    for post in site.posts:
        for tag in tags_of[post.id]:
            by_tag[tag.slug].append(post)
            if tag.slug not in tag_newest or post.updated > tag_newest[tag.slug]:
                tag_newest[tag.slug] = post.updated
    site_newest = max((p.updated for p in site.posts), default=EPOCH)
    scopes: list[tuple[str, Tag | None, Sequence[Post]]] = [(urls.SITE, None, site.posts)]
    scopes += [(urls.tag_prefix(tag.slug), tag, by_tag[tag.slug]) for tag in site.tags.tags]

    first: list[Doc] = []
    later: list[Doc] = []
    for prefix, scope_tag, posts in scopes:
        scope_key = ""
        for page in _pages(config, prefix, scope_tag, len(posts), tag_newest[scope_tag.slug] if scope_tag else site_newest):
            chunk = tuple(posts[(page.page - 1) * config.items_per_feed : page.page * config.items_per_feed])
            key = (prefix, page.page, page.last_page, page.updated, scope_tag, *(entry_keys[p.id] for p in chunk))
            out = first if page.page == 1 else later
            known = reusable.get(key)
            if known is not None:
                out += known
                pages[key] = known
                continue
            scope_key = scope_key or repr(replace(page, page=0, last_page=0, updated=EPOCH))  # the scope's metadata
            inputs = digests.of(scope_key, str(page.page), str(page.last_page), page.updated.isoformat(), *key[5:])  # type: ignore[arg-type]
            newest = max((p.updated for p in chunk), default=None)
            chunk_tags = tuple(tags_of[p.id] for p in chunk)
            made: list[Doc] = []
            for fmt in FORMATS.values():
                path = urls.feed_path(prefix, fmt.filename, page.page)
                made.append(
                    Doc(
                        path,
                        "feed",
                        fmt.media_type,
                        digests.of("feed", fmt.filename, inputs),
                        page.page == 1,
                        newest,
                        page,
                        chunk,
                        chunk_tags,
                        fmt.filename,
                    )
                )
            made.append(
                Doc(view_path(prefix, page.page), "view", HTML, digests.of("view", inputs), page.page == 1, newest, page, chunk, chunk_tags)
            )
            if config.fediverse:
                path = ACTIVITY + urls.outbox_path(urls.actor_path(scope_tag.slug if scope_tag else None), page.page)
                made.append(
                    Doc(path, "ap-outbox", ACTIVITY_JSON, digests.of("ap-outbox", inputs), page.page == 1, newest, page, chunk, chunk_tags)
                )
            pages[key] = tuple(made)
            out += made
    first += _html_docs(config, site, tags_of, entry_keys, by_tag, tag_newest, digests)
    if config.fediverse:
        _activity_docs(config, site, tags_of, entry_keys, by_tag, digests, reusable, pages, first, later)
    docs = tuple(first + later)
    version = hashlib.sha256("".join(f"{d.path}\0{d.digest}\n" for d in docs).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Plan(docs, version, {d.path: d for d in docs}, pages)


def _html_docs(
    config: Config,
    site: Site,
    tags_of: Mapping[str, tuple[Tag, ...]],
    entry_keys: Mapping[str, str],
    by_tag: Mapping[str, Sequence[Post]],
    newest_of: Mapping[str, datetime],
    digests: _Digests,
) -> list[Doc]:
    size = config.items_per_feed
    newest = max((p.updated for p in site.posts), default=None)
    home = tuple(site.posts[:size])
    counts = tuple((tag, len(by_tag[tag.slug])) for tag in site.tags.tags)
    counts_key = repr([(t.slug, t.name, n) for t, n in counts])
    docs = [
        Doc(
            "/",
            "home",
            HTML,
            digests.of("home", counts_key, *(entry_keys[p.id] for p in home)),
            True,
            newest,
            posts=home,
            post_tags=tuple(tags_of[p.id] for p in home),
            tag_counts=counts,
        ),
        Doc("/tags/", "tags", HTML, digests.of("tags", counts_key), True, newest, tag_counts=counts),
    ]
    for path, filename in OPML_FILES.items():
        docs.append(
            Doc(
                path,
                "opml",
                OPML,
                digests.of("opml", filename, counts_key, str(newest)),
                True,
                newest,
                filename=filename,
                tag_counts=counts,
            )
        )
    for tag, count in counts:
        shown = tuple(by_tag[tag.slug][:size])
        digest = digests.of("tag", tag.slug, tag.name, str(count), *(entry_keys[p.id] for p in shown))
        newest_of_tag = newest_of[tag.slug]
        shown_tags = tuple(tags_of[p.id] for p in shown)
        path = urls.tag_prefix(tag.slug)
        docs.append(Doc(path, "tag", HTML, digest, True, newest_of_tag, posts=shown, post_tags=shown_tags, tag=tag, count=count))
    return docs


def _pages(config: Config, prefix: str, tag: Tag | None, count: int, updated: datetime) -> Iterator[FeedPage]:
    """The FeedPages of a scope of ``count`` posts (without entries): at least one, ``items_per_feed`` posts each."""
    size = config.items_per_feed
    last_page = max(1, -(-count // size))
    title = config.title if tag is None else f"{config.title}: {tag.name}"
    description = config.description if tag is None else f"Posts tagged {tag.name} on {config.title}."
    icon = urls.absolute_or_as_is(config.site_url, config.icon) if config.icon else None
    favicon = urls.absolute_or_as_is(config.site_url, config.favicon) if config.favicon else None
    for number in range(1, last_page + 1):
        yield FeedPage(
            title=title,
            description=description,
            site_url=config.site_url,
            prefix=prefix,
            page=number,
            last_page=last_page,
            entries=(),
            updated=updated,
            authors=(config.author,),
            language=config.language,
            tag=tag,
            hubs=config.websub_hubs,
            icon=icon,
            favicon=favicon,
        )


def _activity_docs(
    config: Config,
    site: Site,
    tags_of: Mapping[str, tuple[Tag, ...]],
    entry_keys: Mapping[str, str],
    by_tag: Mapping[str, Sequence[Post]],
    digests: _Digests,
    reusable: Mapping[tuple[object, ...], tuple[Doc, ...]],
    pages: dict[tuple[object, ...], tuple[Doc, ...]],
    first: list[Doc],
    later: list[Doc],
) -> None:
    """Every account's outbox collection, each post's Article and the post index (``config.fediverse`` only).

    The newest page's Articles are needed first (a new post is delivered from its Article
    at once); older ones are rendered in the background, or when asked for.
    """
    newest = max((p.updated for p in site.posts), default=None)
    scopes: list[tuple[Tag | None, int]] = [(None, len(site.posts))] + [(tag, len(by_tag[tag.slug])) for tag in site.tags.tags]
    for tag, count in scopes:
        path = ACTIVITY + urls.outbox_path(urls.actor_path(tag.slug if tag else None))
        first.append(
            Doc(path, "ap-collection", ACTIVITY_JSON, digests.of("ap-collection", path, str(count)), True, newest, tag=tag, count=count)
        )
    links = []
    for number, post in enumerate(site.posts):
        obj = urls.object_path(post.id)
        links.append((urls.site_path(config.site_url, post.url) or post.url, obj))
        key = ("ap", post.id, entry_keys[post.id], number < config.items_per_feed)
        known = reusable.get(key)
        if known is None:
            doc = Doc(ACTIVITY + obj, "ap-object", ACTIVITY_JSON, digests.of("ap-object", entry_keys[post.id]), bool(key[3]), post.updated)
            known = (replace(doc, posts=(post,), post_tags=(tags_of[post.id],)),)
        pages[key] = known
        (first if key[3] else later).extend(known)
    index = digests.of("ap-index", *(f"{path}\0{obj}" for path, obj in links))
    first.append(Doc(POST_INDEX, "ap-index", ACTIVITY_JSON, index, True, newest, links=tuple(links)))
