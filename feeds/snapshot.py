"""Build every response body once per content change; swap the whole set at once."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from . import markup, pages
from .config import Config
from .content import Scan
from .formats import FORMATS
from .models import Entry, FeedPage, Post, Problem, Tag
from .site import Site, select

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"


@dataclass(frozen=True)
class Body:
    """One response body, ready to send as it is or gzipped."""

    data: bytes
    gzip: bytes
    media_type: str
    #: Strong validator of ``data``: the quoted start of its SHA-256.
    etag: str
    #: Newest post change behind the body (HTTP dates are whole seconds).
    last_modified: datetime | None

    @property
    def gzip_etag(self) -> str:
        """The validator of the gzip representation, distinct as RFC 9110 §8.8.3 asks."""
        return self.etag[:-1] + '-gz"'


def make_body(data: bytes, media_type: str, last_modified: datetime | None, previous: Body | None = None) -> Body:
    """Return a Body for ``data``, reusing ``previous`` when its bytes are the same."""
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    if previous is not None and previous.etag == etag and previous.media_type == media_type:
        return previous
    # mtime=0 and no file name: the same bytes gzip to the same bytes everywhere.
    compressed = gzip.compress(data, compresslevel=9, mtime=0)
    stamp = last_modified.astimezone(UTC).replace(microsecond=0) if last_modified else None
    return Body(data, compressed, media_type, etag, stamp)


Key = tuple[str, int]


@dataclass(frozen=True)
class Snapshot:
    """Every body the service answers with, plus what /healthz reports."""

    #: Hash of every body's ETag: equal content gives an equal version on every host.
    version: str
    #: Response bodies by (path, page).
    bodies: Mapping[Key, Body]
    #: Number of pages of each paged path (feeds).
    pages: Mapping[str, int]
    post_count: int
    tags: tuple[Tag, ...]
    problems: tuple[Problem, ...]
    #: When a future-dated post becomes visible: a rebuild is due then.
    next_change: datetime | None
    #: Wall-clock time of the build; for /healthz only, never inside a body.
    built_at: datetime
    #: HTML renderings of feed pages for browsers, by the feed's (path, page);
    #: the three formats of a scope page share one. Kept apart from ``bodies``,
    #: which holds exactly the documents a URL serves to everyone (and exports).
    views: Mapping[Key, Body] = field(default_factory=dict)

    def find(self, path: str, page: int = 1) -> Body | None:
        return self.bodies.get((path, page))

    def view(self, path: str, page: int = 1) -> Body | None:
        """Return the browser view of the feed at (path, page), if there is one."""
        return self.views.get((path, page))

    def feed_keys(self) -> Iterator[Key]:
        """Every (path, page) that is a feed document."""
        return (key for key in self.bodies if key[0].rsplit("/", 1)[-1] in FORMATS)


def changed_keys(old: Snapshot | None, new: Snapshot) -> list[Key]:
    """Return the keys whose bytes differ between two snapshots (new or changed)."""
    before = old.bodies if old else {}
    return sorted(k for k, body in new.bodies.items() if k not in before or before[k].etag != body.etag)


@lru_cache(maxsize=16384)
def _render(body: str, base_url: str) -> markup.Rendered:
    return markup.render(body, base_url)


def build(scan: Scan, config: Config, now: datetime, previous: Snapshot | None = None) -> Snapshot:
    """Render every feed page, HTML page and OPML list of ``scan`` as published at ``now``."""
    site = select(scan.posts, now)
    entries = {post.id: _entry(post, site) for post in site.posts}
    old = previous.bodies if previous else {}
    old_views = previous.views if previous else {}
    bodies: dict[Key, Body] = {}
    views: dict[Key, Body] = {}
    page_counts: dict[str, int] = {}

    def add(key: Key, data: bytes, media_type: str, last_modified: datetime | None) -> None:
        bodies[key] = make_body(data, media_type, last_modified, old.get(key))

    scopes: list[tuple[str, Tag | None, tuple[Post, ...]]] = [("/", None, site.posts)]
    by_tag: dict[str, list[Post]] = {tag.slug: [] for tag in site.tags.tags}
    for post in site.posts:
        for post_tag in entries[post.id].tags:
            by_tag[post_tag.slug].append(post)
    scopes += [(f"/tags/{tag.slug}/", tag, tuple(by_tag[tag.slug])) for tag in site.tags.tags]

    newest = max((p.updated for p in site.posts), default=None)
    index = pages.Index(config, site, [entries[p.id] for p in site.posts[: config.items_per_feed]], by_tag)
    for prefix, scope_tag, posts in scopes:
        for page in feed_pages(config, prefix, scope_tag, [entries[p.id] for p in posts]):
            view = make_body(index.feed_view(page), HTML, page.updated if posts else None, old_views.get((prefix + "feed.xml", page.page)))
            for fmt in FORMATS.values():
                path = prefix + fmt.filename
                page_counts[path] = page.last_page
                # The scope's newest change, as the document's own <updated> says.
                add((path, page.page), fmt.render(page), fmt.media_type, page.updated if posts else None)
                views[(path, page.page)] = view

    add(("/", 1), index.home(), HTML, newest)
    add(("/tags/", 1), index.tag_list(), HTML, newest)
    for opml_path, filename in pages.OPML_FILES.items():
        add((opml_path, 1), index.opml(filename), OPML, newest)
    for tag in site.tags.tags:
        tag_entries = [entries[p.id] for p in by_tag[tag.slug][: config.items_per_feed]]
        add((f"/tags/{tag.slug}/", 1), index.tag_page(tag, tag_entries), HTML, max(p.updated for p in by_tag[tag.slug]))

    version = hashlib.sha256("".join(f"{k[0]}?{k[1]}={b.etag}\n" for k, b in sorted(bodies.items())).encode()).hexdigest()[:16]
    return Snapshot(
        version=version,
        bodies=bodies,
        pages=page_counts,
        post_count=len(site.posts),
        tags=site.tags.tags,
        problems=scan.problems + site.problems,
        next_change=site.next_change,
        built_at=datetime.now(UTC),
        views=views,
    )


def _entry(post: Post, site: Site) -> Entry:
    rendered = _render(post.body, post.url)
    summary = post.summary or rendered.first_paragraph or post.title
    return Entry(post, rendered.html, summary, site.tags.tags_of(post))


def feed_pages(config: Config, prefix: str, tag: Tag | None, entries: list[Entry]) -> Iterator[FeedPage]:
    """Split a scope's entries (newest first) into FeedPages of ``items_per_feed``."""
    size = config.items_per_feed
    last_page = max(1, -(-len(entries) // size))
    updated = max((e.post.updated for e in entries), default=EPOCH)
    title = config.title if tag is None else f"{config.title}: {tag.name}"
    description = config.description if tag is None else f"Posts tagged {tag.name} on {config.title}."
    for number in range(1, last_page + 1):
        yield FeedPage(
            title=title,
            description=description,
            # A tag slug may hold any letter (/tags/café/): URLs in feeds must be ASCII.
            home_url=config.site_url + quote(prefix),
            base_url=config.site_url + quote(prefix),
            page=number,
            last_page=last_page,
            entries=tuple(entries[(number - 1) * size : number * size]),
            updated=updated,
            authors=(config.author,),
            language=config.language,
            tag=tag,
            hubs=config.websub_hubs,
            icon=config.absolute(config.icon) if config.icon else None,
            favicon=config.absolute(config.favicon) if config.favicon else None,
        )


@dataclass
class SnapshotStore:
    """Holds the served snapshot; a swap is one assignment, so readers see all or nothing."""

    current: Snapshot | None = None
    #: Wall-clock time of the last completed scan, and why the last one failed (if it did).
    last_scan: datetime | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def swap(self, snapshot: Snapshot) -> Snapshot | None:
        """Serve ``snapshot`` from now on; return the one it replaces."""
        with self._lock:
            old, self.current = self.current, snapshot
        return old
