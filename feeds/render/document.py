"""The vocabulary of planning: documents, plans, the context families plan from, and what a change touched.

Pure. A :class:`Doc` carries a digest of everything its bytes depend on; a
:class:`Plan` holds every document by path and a version that is an order-free sum
over them (so a plan brought up to date with a change, ``feeds.render.incremental``,
has the very version of a plan made from scratch). The families themselves and
:func:`~feeds.render.plan.plan` are in ``feeds.render.plan``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from feeds import urls
from feeds.config import Config
from feeds.content.site import Site
from feeds.fingerprint import code_digest, settings_digest
from feeds.models import FeedPage, Post, Problem, Tag
from feeds.render.scopes import Scope, Scopes

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


@dataclass(frozen=True, slots=True)
class Listed:
    """One scope as the index, the lists and OPML name it."""

    kind: str
    slug: str
    name: str
    prefix: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
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
    """Every document of a site by path, and the site's version."""

    by_path: Mapping[str, Doc]
    #: Sum of a hash of every document's path and digest (:func:`version_of`): equal content, settings and code
    #: give an equal version everywhere, and a change of a few documents changes it in time of their number.
    total: int
    #: The documents of each feed document and post page by what they are made of, for the next plan to reuse.
    pages: Mapping[tuple[object, ...], tuple[Doc, ...]] = field(default_factory=dict, repr=False)
    #: Each scope's post count and items per feed, by prefix (old ``/page/N/`` URLs are mapped with them).
    counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Problems of the settings against the documents (a redirect to nothing, a post page on another document's path).
    problems: tuple[Problem, ...] = ()
    #: The scopes it was planned from; the paths of each family planned whole at every change (a plain function), by name.
    found: Scopes | None = field(default=None, repr=False)
    whole: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    #: How many documents lost their path to another (then every change is planned from scratch).
    clashes: int = 0

    def find(self, path: str) -> Doc | None:
        return self.by_path.get(path)

    @property
    def version(self) -> str:
        return f"{self.total:016x}"

    @property
    def docs(self) -> tuple[Doc, ...]:
        """Every document, the first-needed ones first (a whole pass: for a cold build and tests)."""
        docs = self.by_path.values()
        return tuple(d for d in docs if d.first) + tuple(d for d in docs if not d.first)


def doc_hash(path: str, digest: str) -> int:
    """A document's share of :attr:`Plan.total`."""
    return int.from_bytes(hashlib.blake2b(f"{path}\0{digest}".encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def version_of(docs: Iterable[Doc]) -> int:
    """:attr:`Plan.total` of these documents: an order-free sum, kept up to date by adding and taking away."""
    return sum(doc_hash(d.path, d.digest) for d in docs) % (1 << 64)


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
    #: The sections whose posts stay out of the site's scope (``site_feeds = false``).
    left_out: frozenset[str] = frozenset()
    #: Newest change among the published posts (the lists' and OPML's Last-Modified).
    newest: datetime | None = None

    def entries(self, posts: Iterable[Post]) -> tuple[str, ...]:
        return tuple(self.entry_keys[p.id] for p in posts)

    def tags(self, posts: Iterable[Post]) -> tuple[tuple[Tag, ...], ...]:
        return tuple(self.scopes.tags_of[p.id] for p in posts)


@dataclass(frozen=True)
class Change:
    """What changed since the previous plan, for the families that plan only what a change touched."""

    #: Scopes whose posts changed, by prefix: the oldest-first positions ``(lo, hi)`` that hold other posts now
    #: (every later one too when the count changed), or None: all of it (a new scope).
    scopes: Mapping[str, tuple[int, int] | None]
    #: Scopes with no post any more, by prefix.
    gone: frozenset[str]
    #: Posts changed or added (as published now) and posts no longer published (as they were).
    posts: tuple[Post, ...]
    removed: tuple[Post, ...]
    #: Each changed or gone scope as the previous plan had it, by prefix (absent: a new scope).
    before: Mapping[str, Scope] = field(default_factory=dict)

    def archives_before(self, prefix: str) -> int:
        """A changed or gone scope's number of archives in the previous plan (0: a new scope)."""
        old = self.before.get(prefix)
        return old.archives if old is not None else 0


#: Plans a family's documents whole from the context, in the order they are served first.
Every = Callable[[Context], Iterable[Doc]]
#: Plans only the documents of a family that a change touched: those documents, and the paths of the ones it removed.
Some = Callable[[Context, Change], tuple[list[Doc], set[str]]]


@dataclass(frozen=True)
class Family:
    """A family of documents: planned whole, and (when it can say so) only where a change touched it."""

    every: Every
    #: None: the family is planned whole at every change (correct, in time of the site's size).
    some: Some | None = None


def context(
    site: Site,
    config: Config,
    found: Scopes,
    entry_keys: Mapping[str, str],
    reusable: Mapping[tuple[object, ...], tuple[Doc, ...]],
    newest: datetime | None = None,
) -> Context:
    """The context the families plan from (``newest``: the posts' newest change, when the caller keeps it)."""
    listed = tuple(Listed(s.kind, s.slug, s.name, s.prefix, s.title, len(s.posts)) for s in found.all)
    return Context(
        site,
        config,
        found,
        entry_keys,
        _Digests(f"{code_digest()}:{settings_digest(config)}"),
        reusable,
        listed=listed,
        listed_key=repr([(s.kind, s.slug, s.name, s.title, s.count) for s in listed]),
        left_out=frozenset(s.slug for s in config.sections if not s.site_feeds),
        newest=newest if newest is not None else max((p.updated for p in site.posts), default=None),
    )


@lru_cache(maxsize=1 << 17)
def site_path(site_url: str, url: str) -> str | None:
    """The path of ``url`` on this site (None: not on it); cached, as every plan asks it of every post."""
    return urls.site_path(site_url, url)


def entry_key(post: Post, tags: tuple[Tag, ...]) -> str:
    """What an entry's bytes depend on: the post's record and its display tags."""
    return post.digest + "".join(f"\x1e{t.slug}\x1f{t.name}" for t in tags)
