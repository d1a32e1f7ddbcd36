"""What a site publishes: every document, what its bytes are made of, and which are needed first.

Pure: a Plan is a function of the published posts and the settings, computed
without rendering anything. The documents come from a registry of families
(:data:`FAMILIES`): each scope's feeds and archives, each scope's HTML page,
the lists and the index, the OPML lists, and each post's page. Each document
carries a digest of everything its bytes depend on (the posts it shows, their
tags, the page's metadata, the settings and this code), so the builder can
tell which documents must be rendered again after a change — and which bytes
an earlier snapshot, even one written by another process, already has — by
comparing digests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site
from feeds.fingerprint import code_digest, settings_digest
from feeds.models import FeedPage, Post, Problem, Tag
from feeds.options import check_redirects
from feeds.render.activity import ACTIVITY_JSON
from feeds.render.activity import pages as outbox_pages
from feeds.render.formats import FORMATS
from feeds.render.scopes import KINDS, Scope, Scopes, scopes

HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
#: Browser views of feeds live under this prefix; the web layer never serves it directly.
VIEWS = "/_views"
VIEW_FILE = "view.html"
#: The fediverse's documents (Articles, outboxes) live under this prefix + a public path: an Article at
#: ``/_activity/ap/objects/<id>`` (its id) and at ``/_activity<post path>`` (negotiated at the post's URL), an
#: outbox at ``/_activity/ap/site/outbox``. Like the views, only the app serves them, so none is exported.
ACTIVITY = "/_activity"
#: OPML subscription lists by path, each naming one format's URL of every scope.
OPML_FILES = {"/feeds.opml": "feed.xml", "/feeds-atom.opml": "atom.xml", "/feeds-json.opml": "feed.json"}
#: Cache lifetime (seconds) of an archive that has a successor: its posts stay in it for good (RFC 5005 §4),
#: only an edit of one of them changes its bytes, and a cache may show that edit this much later.
ARCHIVE_MAX_AGE = 86400
#: Where settings problems are reported (``feeds.toml:1: redirects: …``).
SETTINGS_FILE = "feeds.toml"


def cache_max_age(path: str, exists: Callable[[str], bool], scan_interval: int) -> int:
    """How long caches may keep ``path``: long for an archive whose successor exists (it is full for good), else ``scan_interval``."""
    parts = urls.split_feed_path(path)
    if parts is None:
        return scan_interval
    prefix, filename, number = parts
    if number is None:
        return scan_interval
    return ARCHIVE_MAX_AGE if exists(urls.feed_path(prefix, filename, number + 1)) else scan_interval


def view_path(prefix: str, archive: int | None = None) -> str:
    """The path under which the browser view of a scope's current feed (or one archive) is stored."""
    return VIEWS + urls.feed_path(prefix, VIEW_FILE, archive)


@dataclass(frozen=True)
class Listed:
    """One scope as the index, the lists and OPML name it."""

    kind: str
    slug: str
    name: str
    prefix: str
    title: str
    count: int


@dataclass(frozen=True)
class Doc:
    """One document to render: its path, its inputs and the digest of those inputs."""

    path: str
    #: ``feed`` (a format of a feed document), ``view`` (its browser view), ``home``, ``list``, ``scope``, ``opml``, ``post``;
    #: ``article``, ``outbox`` and ``outbox-page`` with ``fediverse`` on.
    kind: str
    media_type: str
    digest: str
    #: Needed first: every current feed and view, the HTML pages and OPML (published before archives and post pages).
    first: bool
    #: Newest change among the posts the document shows (for Last-Modified).
    newest: datetime | None
    #: The feed document (without entries) for feeds, views and scope pages; its posts and their display tags.
    page: FeedPage | None = None
    posts: tuple[Post, ...] = ()
    post_tags: tuple[tuple[Tag, ...], ...] = ()
    #: The feed format's file name (``feed.xml``) for feeds; the OPML's feed file name for OPML; the kind of a list.
    filename: str | None = None
    #: The scopes a list, the index or OPML names; a scope page's or an outbox's own scope; a post page's sections and
    #: authors; the site's scope for an Article addressed to the site's followers.
    listed: tuple[Listed, ...] = ()
    #: Posts in the scope (scope pages, outboxes).
    count: int = 0
    #: An outbox page's number (1 = the oldest).
    number: int = 0


@dataclass(frozen=True)
class Plan:
    """Every document of a site, first-needed ones first, and the site's version."""

    docs: tuple[Doc, ...]
    #: Hash of every document's digest: equal content, settings and code give an equal version everywhere.
    version: str
    by_path: Mapping[str, Doc] = field(default_factory=dict)
    #: The documents of each feed document and post page by what they are made of, for the next plan to reuse.
    pages: Mapping[tuple[object, ...], tuple[Doc, ...]] = field(default_factory=dict, repr=False)
    #: Each scope's post count and items per feed, by prefix (old ``/page/N/`` URLs are mapped with them).
    counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Problems of the settings against the documents (a redirect to nothing, a post page on another document's path).
    problems: tuple[Problem, ...] = ()

    def find(self, path: str) -> Doc | None:
        return self.by_path.get(path)


class _Digests:
    """Digests of document inputs under this code and these settings."""

    def __init__(self, base: str) -> None:
        self.base = base

    def of(self, *parts: str) -> str:
        digest = hashlib.sha256(self.base.encode())
        for part in parts:
            digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:32]


@dataclass
class Context:
    """What every family plans from: the site, the settings, its scopes, and what the previous plan lends."""

    site: Site
    config: Config
    scopes: Scopes
    #: Per post id: its record's digest and its display tags, what an entry's bytes depend on.
    entry_keys: Mapping[str, str]
    digests: _Digests
    reusable: Mapping[tuple[object, ...], tuple[Doc, ...]]
    #: Filled by the feed family: the documents of each feed document by key.
    pages: dict[tuple[object, ...], tuple[Doc, ...]] = field(default_factory=dict)
    #: Every scope as listed (in :data:`KINDS` order), and a key of their counts.
    listed: tuple[Listed, ...] = ()
    listed_key: str = ""

    def entries(self, posts: Iterable[Post]) -> tuple[str, ...]:
        return tuple(self.entry_keys[p.id] for p in posts)

    def tags(self, posts: Iterable[Post]) -> tuple[tuple[Tag, ...], ...]:
        return tuple(self.scopes.tags_of[p.id] for p in posts)


#: A family of documents: planned from the context, in the order they are served first.
Family = Callable[[Context], Iterable[Doc]]


def plan(site: Site, config: Config, previous: Plan | None = None) -> Plan:
    """Every document ``site`` publishes under ``config``, current feeds and HTML pages first.

    ``previous`` (a plan of the same settings) lends the documents of every feed document whose
    posts, tags and metadata are unchanged, so a plan after an edit costs little more than a scan.
    """
    found = scopes(site, config)
    tags_of = found.tags_of
    entry_keys = {post.id: post.digest + "".join(f"\x1e{t.slug}\x1f{t.name}" for t in tags_of[post.id]) for post in site.posts}
    listed = tuple(Listed(s.kind, s.slug, s.name, s.prefix, s.title, len(s.posts)) for s in found.all)
    context = Context(
        site,
        config,
        found,
        entry_keys,
        _Digests(f"{code_digest()}:{settings_digest(config)}"),
        previous.pages if previous is not None else {},
        listed=listed,
        listed_key=repr([(s.kind, s.slug, s.name, s.title, s.count) for s in listed]),
    )
    first: list[Doc] = []
    later: list[Doc] = []
    for family in FAMILIES.values():
        for doc in family(context):
            (first if doc.first else later).append(doc)
    by_path, problems = _unique(first + later)
    docs = tuple(by_path.values())
    version = hashlib.sha256("".join(f"{d.path}\0{d.digest}\n" for d in docs).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    counts = {s.prefix: (len(s.posts), s.size) for s in found.all}
    return Plan(docs, version, by_path, context.pages, counts, problems + tuple(check_redirects(config.redirects, by_path, SETTINGS_FILE)))


def _unique(docs: list[Doc]) -> tuple[dict[str, Doc], tuple[Problem, ...]]:
    """Keep the first document of each path (a post page whose permalink lands on a feed or a list is reported)."""
    seen: dict[str, Doc] = {}
    problems = []
    for doc in docs:
        if seen.setdefault(doc.path, doc) is not doc:
            post = doc.posts[0].source if doc.kind == "post" and doc.posts else SETTINGS_FILE
            problems.append(Problem(post, 1, f"permalink {doc.path!r} is the path of another document; this post has no page", "warning"))
    return seen, tuple(problems)


# -- the families ----------------------------------------------------------------------


def scope_feeds(context: Context) -> Iterable[Doc]:
    """Each scope's current feed and its full archives, in every format, with their browser views."""
    for scope in context.scopes.all:
        yield from _scope_feeds(context, scope)


def _scope_feeds(context: Context, scope: Scope) -> Iterable[Doc]:
    config, posts, size = context.config, scope.posts, scope.size
    count, archives = len(posts), scope.archives
    scope_key = ""
    entry_keys = context.entry_keys
    keys = [entry_keys[p.id] for p in posts]  # once per scope; each document's key is a slice of it
    # The current feed (the newest posts), then archive k = oldest-first posts [(k-1)N, kN), newest first inside.
    chunks: list[tuple[int | None, int, int]] = [(None, 0, min(size, count))]
    chunks += [(k, count - k * size, count - (k - 1) * size) for k in range(archives, 0, -1)]
    for number, start, end in chunks:
        # An archive's bytes depend on its posts and on whether its successor exists (next-archive), never on
        # later posts; the current feed's on the number of archives (prev-archive) and the scope's newest change.
        links = archives if number is None else number < archives
        key = (scope.prefix, number, links, scope.newest if number is None else None, *keys[start:end])
        known = context.reusable.get(key)
        if known is not None:
            context.pages[key] = known
            yield from known
            continue
        chunk = posts[start:end]
        newest = max((p.updated for p in chunk), default=None)
        page = FeedPage(
            title=scope.title,
            description=scope.description,
            site_url=config.site_url,
            prefix=scope.prefix,
            entries=(),
            updated=scope.newest if number is None else (newest or scope.newest),
            archive=number,
            archives=archives,
            authors=(config.author,),
            language=scope.language,
            kind=scope.kind,
            full=scope.options.feed_content == "full",
            hubs=config.websub_hubs,
            icon=urls.absolute_or_as_is(config.site_url, config.icon) if config.icon else None,
            favicon=urls.absolute_or_as_is(config.site_url, config.favicon) if config.favicon else None,
            podcast=scope.podcast,
        )
        scope_key = scope_key or scope.key
        inputs = context.digests.of(scope_key, str(number), str(links), page.updated.isoformat(), *key[4:])  # type: ignore[arg-type]
        chunk_tags = context.tags(chunk)
        first = number is None
        made = [
            Doc(
                urls.feed_path(scope.prefix, fmt.filename, number),
                "feed",
                fmt.media_type,
                context.digests.of("feed", fmt.filename, inputs),
                first,
                newest,
                page,
                chunk,
                chunk_tags,
                fmt.filename,
            )
            for fmt in FORMATS.values()
        ]
        made.append(
            Doc(view_path(scope.prefix, number), "view", HTML, context.digests.of("view", inputs), first, newest, page, chunk, chunk_tags)
        )
        context.pages[key] = tuple(made)
        yield from made


def scope_pages(context: Context) -> Iterable[Doc]:
    """The index (``/``) and each other scope's HTML page: its feeds and its newest posts."""
    for scope, listed in zip(context.scopes.all, context.listed, strict=True):
        shown = scope.posts[: scope.size]
        entries = context.entries(shown)
        newest = scope.newest if scope.posts else None
        if scope.kind == "site":
            digest = context.digests.of("home", context.listed_key, *entries)
            yield Doc("/", "home", HTML, digest, True, newest, posts=shown, post_tags=context.tags(shown), listed=context.listed)
            continue
        digest = context.digests.of("scope", repr(listed), *entries)
        tags = context.tags(shown)
        yield Doc(scope.prefix, "scope", HTML, digest, True, newest, posts=shown, post_tags=tags, listed=(listed,), count=len(scope.posts))


def lists(context: Context) -> Iterable[Doc]:
    """The HTML list of every scope of each kind (``/tags/`` always; ``/authors/``, … when there are some)."""
    newest = max((p.updated for p in context.site.posts), default=None)
    for kind in KINDS[1:]:
        listed = tuple(s for s in context.listed if s.kind == kind)
        if listed or kind == "tag":
            digest = context.digests.of("list", kind, repr(listed))
            yield Doc(urls.list_path(kind), "list", HTML, digest, True, newest, filename=kind, listed=listed)


def opml(context: Context) -> Iterable[Doc]:
    """The OPML subscription lists: one outline per scope, one list per format."""
    newest = max((p.updated for p in context.site.posts), default=None)
    for path, filename in OPML_FILES.items():
        digest = context.digests.of("opml", filename, context.listed_key, str(newest))
        yield Doc(path, "opml", OPML, digest, True, newest, filename=filename, listed=context.listed)


def post_pages(context: Context) -> Iterable[Doc]:
    """Each published post's HTML page at its URL, when ``permalink`` is a path of this site."""
    config = context.config
    if not config.post_pages:
        return
    by_prefix = {s.prefix: s for s in context.listed}
    authors_of, tags_of, entry_keys = context.scopes.authors_of, context.scopes.tags_of, context.entry_keys
    for post in context.site.posts:
        path = _site_path(config.site_url, post.url)
        if path is None:
            continue
        # The page links to its authors' and section's pages (their names and paths are part of its bytes, not
        # their post counts); every author a post names in a feed is a scope, a section is one if it has feed posts.
        section = urls.scope_prefix("section", post.section) if post.section is not None else None
        key = ("post", path, entry_keys[post.id], authors_of[post.id], section in by_prefix)
        known = context.reusable.get(key)
        if known is None:
            links = [urls.scope_prefix("author", a.slug) for a in authors_of[post.id]] + ([section] if section else [])
            listed = tuple(by_prefix[prefix] for prefix in links if prefix in by_prefix)
            digest = context.digests.of("post", entry_keys[post.id], repr([(s.prefix, s.name) for s in listed]))
            known = (Doc(path, "post", HTML, digest, False, post.updated, posts=(post,), post_tags=(tags_of[post.id],), listed=listed),)
        context.pages[key] = known
        yield from known


@lru_cache(maxsize=1 << 17)
def _site_path(site_url: str, url: str) -> str | None:
    return urls.site_path(site_url, url)


def fediverse(context: Context) -> Iterable[Doc]:
    """With ``fediverse`` on: the site's and each tag's outbox, paged like their archives, and each feed post's Article.

    An Article is at its id's path and at its post's path (negotiated at the post's URL); the newest are needed first.
    """
    if not context.config.fediverse:
        return
    accounts = [(s, listed) for s, listed in zip(context.scopes.all, context.listed, strict=True) if s.kind in ("site", "tag")]
    for scope, listed in accounts:
        yield from _outbox(context, scope, listed)
    site = context.listed[:1] if accounts and accounts[0][0].kind == "site" else ()
    in_site = {p.id for p in accounts[0][0].posts} if site else set()
    for number, post in enumerate(p for p in context.site.posts if p.feed):
        key = ("article", post.id, context.entry_keys[post.id], post.id in in_site, number < context.config.items_per_feed, post.url)
        known = context.reusable.get(key)
        if known is None:
            paths = [urls.object_path(post.id), _site_path(context.config.site_url, post.url) if context.config.post_pages else None]
            audience = site if post.id in in_site else ()
            doc = Doc("", "article", ACTIVITY_JSON, context.digests.of(*map(str, key[:4])), bool(key[4]), post.updated, posts=(post,))
            known = tuple(
                replace(doc, path=ACTIVITY + p, post_tags=(context.scopes.tags_of[post.id],), listed=audience) for p in paths if p
            )
        context.pages[key] = known
        yield from known


def _outbox(context: Context, scope: Scope, listed: Listed) -> Iterable[Doc]:
    actor, count, size = urls.actor_path(scope.slug or None), len(scope.posts), scope.size
    last = outbox_pages(count, size)
    digest = context.digests.of("outbox", actor, str(count), str(last))
    yield Doc(ACTIVITY + urls.outbox_path(actor), "outbox", ACTIVITY_JSON, digest, True, scope.newest, listed=(listed,), count=count)
    for number in range(last, 0, -1):  # page k: the oldest-first posts [(k-1)N, kN), newest first
        chunk = scope.posts[max(0, count - number * size) : count - (number - 1) * size]
        key = ("outbox-page", actor, number, number < last, *context.entries(chunk))
        known = context.reusable.get(key)
        if known is None:
            path, newest = ACTIVITY + urls.outbox_path(actor, number), max(p.updated for p in chunk)
            doc = Doc(path, "outbox-page", ACTIVITY_JSON, context.digests.of(*map(str, key)), number == last, newest, posts=chunk)
            known = (replace(doc, post_tags=context.tags(chunk), listed=(listed,), count=count, number=number),)
        context.pages[key] = known
        yield from known


#: The document families, in the order their documents are planned (and, within first and later, published).
FAMILIES: dict[str, Family] = {
    "feeds": scope_feeds,
    "scope pages": scope_pages,
    "lists": lists,
    "opml": opml,
    "post pages": post_pages,
    "fediverse": fediverse,
}
