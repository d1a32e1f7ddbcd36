"""Build every response body once per content change; swap the whole set at once."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import lru_cache, partial
from multiprocessing import get_context
from urllib.parse import quote

from feeds import __version__
from feeds.config import Config
from feeds.content.index import Scan
from feeds.content.site import Site, select
from feeds.content.tags import TagIndex
from feeds.models import Entry, FeedPage, Post, Problem, Tag
from feeds.render import pages
from feeds.render.cache import RenderCache
from feeds.render.formats import FORMATS
from feeds.snapshot.bodies import Body as Body
from feeds.snapshot.bodies import Key as Key
from feeds.snapshot.bodies import Made, body_from, compress, etag_of, make_bodies
from feeds.snapshot.bodies import make_body as make_body

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"


#: The pages a forked renderer works on: set before the fork, read by the children.
_FORK_JOB: tuple[list[tuple[Key, PageSpec]], Entries] | None = None


def _render_first(
    first: list[tuple[Key, PageSpec]], entries: Entries, old_bodies: Mapping[Key, Body] | None
) -> Callable[[], list[Body]]:
    """Start rendering page 1 of every feed; the returned call waits for the bodies.

    At start-up (single-threaded, many pages) forked processes render and gzip
    them on both cores while this process renders the HTML pages; otherwise
    the call renders them here.
    """
    global _FORK_JOB

    def here() -> list[Body]:
        return make_bodies([_page_data(key, spec, entries, _built(old_bodies, key)) for key, spec in first])

    workers = os.cpu_count() or 1
    if len(first) < 32 or workers < 2 or threading.active_count() > 1:
        return here
    _FORK_JOB = (first, entries)
    step = max(4, len(first) // (workers * 3))
    starts = range(0, len(first), step)
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
        parts_iter = pool.map(_render_range, starts, [step] * len(starts))  # forks the workers now
    except (OSError, RuntimeError):
        _FORK_JOB = None
        return here

    def wait() -> list[Body]:
        global _FORK_JOB
        try:
            parts = list(parts_iter)
        except (OSError, RuntimeError):
            return here()
        finally:
            pool.shutdown()
            _FORK_JOB = None
        bodies: list[Body] = []
        for (key, _), (data, packed, media_type, last_modified, etag) in zip(first, [r for part in parts for r in part], strict=True):
            bodies.append(body_from(data, packed, media_type, last_modified, etag, _built(old_bodies, key)))
        return bodies

    return wait


def _render_range(start: int, count: int) -> list[tuple[bytes, bytes, str, datetime | None, str]]:
    assert _FORK_JOB is not None
    first, entries = _FORK_JOB
    out = []
    for key, spec in first[start : start + count]:
        data, media_type, last_modified, _ = _page_data(key, spec, entries)
        out.append((data, compress(data), media_type, last_modified, etag_of(data)))
    return out




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
    """Return the keys whose bytes differ between two snapshots (new or changed).

    A page not built yet in either snapshot is compared by what its bytes are
    made from (its PageSpec), so this never renders anything.
    """
    before = old.bodies if old else {}
    changed: list[Key] = []
    for key in new.bodies:
        if key not in before:
            changed.append(key)
            continue
        if isinstance(new.bodies, Bodies) and isinstance(before, Bodies):
            spec = new.bodies.spec(key)
            if spec is not None:
                if spec == before.spec(key):
                    continue
                old_body, new_body = before.built(key), new.bodies.built(key)
                if old_body is None or new_body is None:  # made of other inputs: report it, build nothing
                    changed.append(key)
                    continue
        if before[key].etag != new.bodies[key].etag:
            changed.append(key)
    return sorted(changed)


@dataclass(frozen=True)
class PageSpec:
    """What one feed page's bytes are made from: the page without its entries, its posts and their tags."""

    page: FeedPage
    posts: tuple[Post, ...]
    tags: tuple[tuple[Tag, ...], ...]


class Bodies(Mapping[Key, Body]):
    """Every body of a snapshot; older feed pages are built on first lookup, once, then kept.

    Page 1 of every feed and every HTML page are built with the snapshot. A
    page further back is built when first asked for (or when the whole mapping
    is iterated, as the static export does), under a lock, so it is rendered
    once per snapshot and never per request.
    """

    def __init__(self, built: dict[Key, Body], specs: dict[Key, PageSpec], state: BuildState) -> None:
        self._built = built
        self._specs = specs
        self._state = state
        self._keys = list(specs) + [k for k in built if k not in specs]
        self._lock = threading.Lock()

    def __getitem__(self, key: Key) -> Body:
        body = self._built.get(key)
        if body is not None:
            return body
        spec = self._specs[key]  # KeyError: no such body
        with self._lock:
            body = self._built.get(key)
            if body is None:
                body = self._built[key] = render_page(key, spec, self._state.entries)
        return body

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._built or key in self._specs

    def items(self) -> ItemsView[Key, Body]:
        """Every (key, body), building every missing page first: posts rendered and pages gzipped on every core."""
        self.build_all()
        return super().items()

    def build_all(self) -> None:
        """Build every page not built yet (the static export needs them all)."""
        missing = [key for key in self._specs if key not in self._built]
        if not missing:
            return
        self._state.entries.prepare([p for key in missing for p in self._specs[key].posts])
        with self._lock:
            todo = [key for key in missing if key not in self._built]
            made = make_bodies([_page_data(key, self._specs[key], self._state.entries) for key in todo])
            self._built.update(zip(todo, made, strict=True))

    def spec(self, key: Key) -> PageSpec | None:
        return self._specs.get(key)

    def built(self, key: Key) -> Body | None:
        """The body of ``key`` if it is built already, without building it."""
        return self._built.get(key)


class Views(Mapping[Key, Body]):
    """Browser HTML views of feed pages by feed (path, page); the three formats of a page share one.

    Page 1 of every scope is rendered with the snapshot, older pages on first
    lookup (once, under a lock); a view whose page spec is the very object the
    previous snapshot had is reused.
    """

    def __init__(self, specs: Mapping[Key, PageSpec], entries: Entries, index: pages.Index, previous: Views | None) -> None:
        self._specs = specs
        self._entries = entries
        self._index = index
        self._lock = threading.Lock()
        # By id(spec), the spec kept beside its view: while held, no other object has that id.
        self._made: dict[int, tuple[PageSpec, Body]] = {}
        old = previous._made if previous is not None else {}
        for spec in specs.values():
            if id(spec) in self._made:
                continue
            known = old.get(id(spec))
            if known is not None and known[0] is spec:
                self._made[id(spec)] = known
            elif spec.page.page == 1:
                self._made[id(spec)] = (spec, self._render(spec))

    def _render(self, spec: PageSpec) -> Body:
        page = replace(spec.page, entries=self._entries.of(spec.posts))
        return make_body(self._index.feed_view(page), HTML, page.updated if spec.posts else None)

    def __getitem__(self, key: Key) -> Body:
        spec = self._specs[key]  # KeyError: no such feed page
        known = self._made.get(id(spec))
        if known is None:
            with self._lock:
                known = self._made.get(id(spec))
                if known is None:
                    known = self._made[id(spec)] = (spec, self._render(spec))
        return known[1]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


class Entries:
    """Post → Entry (rendered HTML and summary) for one site, rendered at most once per source."""

    def __init__(self, site: Site, cache: RenderCache, previous: Entries | None) -> None:
        self.cache = cache
        # Keyed by id(post): every post here is alive (the site holds it), and
        # only posts of this site are kept, so an id never names another post.
        self.index: TagIndex = site.tags
        old_made = previous._made if previous else {}
        old_tags = previous._tags if previous and previous.index is site.tags else {}
        self._tags: dict[int, tuple[Tag, ...]] = {}
        self._made: dict[int, Entry] = {}
        for post in site.posts:
            key = id(post)
            tags = old_tags.get(key)
            if tags is None:
                tags = site.tags.tags_of(post)
            self._tags[key] = tags
            entry = old_made.get(key)
            if entry is not None and entry.post is post and entry.tags == tags:
                self._made[key] = entry
        self._lock = threading.Lock()

    def tags_of(self, post: Post) -> tuple[Tag, ...]:
        return self._tags[id(post)]

    def prepare(self, posts: Sequence[Post]) -> None:
        """Make the entries of ``posts`` now, rendering the missing ones together (in parallel if many)."""
        with self._lock:
            todo = list({id(p): p for p in posts if id(p) not in self._made}.values())
            if not todo:
                return
            for post, rendered in zip(todo, self.cache.render_many([(p.body, p.url) for p in todo]), strict=True):
                summary = post.summary or rendered.first_paragraph or post.title
                self._made[id(post)] = Entry(post, rendered.html, summary, self._tags[id(post)])

    def of(self, posts: Sequence[Post]) -> tuple[Entry, ...]:
        if any(id(p) not in self._made for p in posts):
            self.prepare(posts)
        return tuple(self._made[id(p)] for p in posts)


@dataclass(frozen=True)
class Scope:
    """One feed scope (the site or a tag) as last built: its posts and page specs."""

    posts: tuple[Post, ...]
    specs: tuple[PageSpec, ...]


@dataclass
class BuildState:
    """What the next build may reuse; holds no older snapshot, so they are freed."""

    config: Config
    now: datetime
    scan_posts: tuple[Post, ...]
    site: Site
    entries: Entries
    scopes: dict[str, Scope]
    #: HTML bodies by key, with the inputs they were made from.
    html: dict[Key, tuple[object, Body]]


def render_page(key: Key, spec: PageSpec, entries: Entries) -> Body:
    """Render one feed page in the format its path names."""
    return make_body(*_page_data(key, spec, entries))


def _page_data(key: Key, spec: PageSpec, entries: Entries, previous: Body | None = None) -> Made:
    fmt = FORMATS[key[0].rsplit("/", 1)[-1]]
    page = replace(spec.page, entries=entries.of(spec.posts))
    # The scope's newest change, as the document's own <updated> says.
    return fmt.render(page), fmt.media_type, page.updated if spec.posts else None, previous


def _shape(post: Post) -> tuple[object, ...]:
    """The fields that decide what is published, in which order and under which tags."""
    return (post.source, post.id, post.url, post.published, post.updated, post.draft, post.tags)


def _select(scan: Scan, now: datetime, prev: BuildState | None) -> tuple[Site, bool]:
    """Return the site at ``now``, and whether it is the previous site with only some posts' contents changed.

    When every post keeps its shape (a typo fixed, a paragraph added) and no
    scheduled post came due, order, tags and duplicates are as before: the
    previous site is reused with the edited posts swapped in.
    """
    if prev is None or len(scan.posts) != len(prev.scan_posts) or now < prev.now:
        return select(scan.posts, now), False
    if prev.site.next_change is not None and prev.site.next_change <= now:
        return select(scan.posts, now), False
    swapped: dict[int, Post] = {}
    for new, old in zip(scan.posts, prev.scan_posts, strict=True):
        if new is not old:
            if _shape(new) != _shape(old):
                return select(scan.posts, now), False
            swapped[id(old)] = new
    if not swapped:
        return prev.site, True
    return replace(prev.site, posts=tuple(swapped.get(id(p), p) for p in prev.site.posts)), True


def build(scan: Scan, config: Config, now: datetime, previous: Snapshot | None = None) -> Snapshot:
    """Render page 1 of every feed, every HTML page and the OPML list of ``scan`` as published at ``now``.

    Older feed pages are described (PageSpec) and built on first lookup. With
    ``previous``, every body whose inputs did not change is reused as it is.
    """
    old_bodies = previous.bodies if previous else None
    prev = old_bodies._state if isinstance(old_bodies, Bodies) and old_bodies._state.config is config else None
    site, same_shape = _select(scan, now, prev)
    entries = Entries(site, _render_cache(config), prev.entries if prev else None)
    bodies: dict[Key, Body] = {}
    specs: dict[Key, PageSpec] = {}
    page_counts: dict[str, int] = {}

    scopes: list[tuple[str, Tag | None, tuple[Post, ...]]] = [("/", None, site.posts)]
    by_tag: dict[str, list[Post]] = {tag.slug: [] for tag in site.tags.tags}
    for post in site.posts:
        for post_tag in entries.tags_of(post):
            by_tag[post_tag.slug].append(post)
    scopes += [(f"/tags/{tag.slug}/", tag, tuple(by_tag[tag.slug])) for tag in site.tags.tags]

    first: list[tuple[Key, PageSpec]] = []
    new_scopes: dict[str, Scope] = {}
    for prefix, scope_tag, posts in scopes:
        old_scope = prev.scopes.get(prefix) if prev else None
        scope = new_scopes[prefix] = _scope(config, prefix, scope_tag, posts, entries, old_scope, same_shape)
        for spec in scope.specs:
            for fmt in FORMATS.values():
                key = (prefix + fmt.filename, spec.page.page)
                specs[key] = spec
                if isinstance(old_bodies, Bodies) and old_bodies.spec(key) is spec:
                    reused = old_bodies.built(key)
                    if reused is not None:
                        bodies[key] = reused
                        continue
                if spec.page.page == 1:
                    first.append((key, spec))
        for fmt in FORMATS.values():
            page_counts[prefix + fmt.filename] = len(scope.specs)

    # Everything page 1 of any feed or any HTML page shows, rendered in one batch.
    shown = [p for _, spec in first for p in spec.posts]
    shown += [p for posts in by_tag.values() for p in posts[: config.items_per_feed]] + list(site.posts[: config.items_per_feed])
    entries.prepare(shown)
    first_bodies = _render_first(first, entries, old_bodies)

    # While forked processes render the feeds (at start-up), this one renders the HTML.
    html, index = _html(config, site, entries, by_tag, prev.html if prev and same_shape else {}, old_bodies)
    bodies.update((key, body) for key, (_, body) in html.items())
    old_views = previous.views if previous is not None and isinstance(previous.views, Views) else None
    views = Views(specs, entries, index, old_views)
    for post in site.posts:
        _fingerprint(post)  # for the version, also while the feeds render
    bodies.update(zip([key for key, _ in first], first_bodies(), strict=True))
    state = BuildState(config, now, scan.posts, site, entries, new_scopes, html)
    return Snapshot(
        version=_version(bodies, specs, site),
        bodies=Bodies(bodies, specs, state),
        pages=page_counts,
        post_count=len(site.posts),
        tags=site.tags.tags,
        problems=scan.problems + site.problems,
        next_change=site.next_change,
        built_at=datetime.now(UTC),
        views=views,
    )


def _same_tags(specs: Sequence[PageSpec], entries: Entries) -> bool:
    # After a new tag index (a display name may have changed), unchanged posts may show other tags.
    return all(spec.tags == tuple(entries.tags_of(p) for p in spec.posts) for spec in specs)


def _scope(
    config: Config, prefix: str, tag: Tag | None, posts: tuple[Post, ...], entries: Entries, old: Scope | None, same_index: bool
) -> Scope:
    """The page specs of a scope, reusing the previous ones (same objects) wherever nothing changed."""
    size = config.items_per_feed
    if same_index and old is not None and old.specs and len(old.posts) == len(posts):
        updated = old.specs[0].page.updated  # the same posts in shape: the same newest change
    else:
        updated = max((p.updated for p in posts), default=EPOCH)
    metas: list[FeedPage] = []
    if old is not None and old.specs and len(old.posts) == len(posts):
        page = old.specs[0].page
        if page.updated == updated and page.tag == tag:
            if all(a is b for a, b in zip(old.posts, posts, strict=True)) and (same_index or _same_tags(old.specs, entries)):
                return old
            metas = [spec.page for spec in old.specs]
    if not metas:
        metas = list(_pages(config, prefix, tag, len(posts), updated))
    specs: list[PageSpec] = []
    for number, meta in enumerate(metas, 1):
        chunk = posts[(number - 1) * size : number * size]
        before = old.specs[number - 1] if old is not None and number <= len(old.specs) else None
        same = before is not None and before.page is meta and len(before.posts) == len(chunk)
        if same and before is not None and all(a is b for a, b in zip(before.posts, chunk, strict=True)):
            if same_index or _same_tags((before,), entries):
                specs.append(before)
                continue
            specs.append(PageSpec(meta, chunk, tuple(entries.tags_of(p) for p in chunk)))
        else:
            specs.append(PageSpec(meta, chunk, tuple(entries.tags_of(p) for p in chunk)))
    return Scope(posts, tuple(specs))


def _built(bodies: Mapping[Key, Body] | None, key: Key) -> Body | None:
    """The body of ``key`` in an older snapshot if it is built there; never builds one."""
    if isinstance(bodies, Bodies):
        return bodies.built(key)
    return bodies.get(key) if bodies is not None else None


def _html(
    config: Config,
    site: Site,
    entries: Entries,
    by_tag: Mapping[str, Sequence[Post]],
    old_html: Mapping[Key, tuple[object, Body]],
    old_bodies: Mapping[Key, Body] | None,
) -> tuple[dict[Key, tuple[object, Body]], pages.Index]:
    """Render the HTML pages and OPML; with the site's shape unchanged, reuse those whose entries are the same."""
    size = config.items_per_feed
    newest_time = max((p.updated for p in site.posts), default=None)
    newest = entries.of(site.posts[:size])
    index = pages.Index(config, site, newest, by_tag)
    made: dict[Key, tuple[object, Body]] = {}

    def add(key: Key, inputs: object, render: Callable[[], bytes], media_type: str, last_modified: datetime | None) -> None:
        known = old_html.get(key)
        if known is not None and known[0] == inputs:
            made[key] = known
            return
        made[key] = (inputs, make_body(render(), media_type, last_modified, _built(old_bodies, key)))

    add(("/", 1), newest, index.home, HTML, newest_time)
    add(("/tags/", 1), (), index.tag_list, HTML, newest_time)
    for opml_path, filename in pages.OPML_FILES.items():
        add((opml_path, 1), (), partial(index.opml, filename), OPML, newest_time)
    for tag in site.tags.tags:
        tag_entries = entries.of(by_tag[tag.slug][:size])
        add(
            (f"/tags/{tag.slug}/", 1),
            (tag, tag_entries),
            partial(index.tag_page, tag, tag_entries),
            HTML,
            max(p.updated for p in by_tag[tag.slug]),
        )
    return made, index


def _version(bodies: Mapping[Key, Body], specs: Mapping[Key, PageSpec], site: Site) -> str:
    """Hash what every body is made of: equal content gives an equal version on every host.

    Built bodies count by ETag; unbuilt pages by their scope's page 1 (which
    carries the scope's metadata) plus every post (all its fields) and the tag index, in site order.
    """
    digest = hashlib.sha256()
    for key in sorted(bodies):
        if key not in specs or key[1] == 1:
            digest.update(f"{key[0]}?{key[1]}={bodies[key].etag}\n".encode())
    digest.update(__version__.encode())
    digest.update(repr([(t.slug, t.name) for t in site.tags.tags]).encode())
    digest.update(b"".join([_fingerprint(post) for post in site.posts]))
    return digest.hexdigest()[:16]


_fingerprints: dict[int, tuple[Post, bytes]] = {}
_POST_FIELDS = tuple(f.name for f in fields(Post) if f.name != "body")


def _fingerprint(post: Post) -> bytes:
    """SHA-256 of every field of a post, remembered per Post object."""
    known = _fingerprints.get(id(post))
    if known is not None and known[0] is post:
        return known[1]
    digest = hashlib.sha256(post.body.encode("utf-8", "surrogatepass"))
    digest.update(repr(tuple(getattr(post, name) for name in _POST_FIELDS)).encode("utf-8", "surrogatepass"))
    if len(_fingerprints) > 50000:
        _fingerprints.clear()
    _fingerprints[id(post)] = (post, digest.digest())
    return digest.digest()


@lru_cache(maxsize=8)
def _render_cache(config: Config) -> RenderCache:
    return RenderCache(config.cache_dir)


def feed_pages(config: Config, prefix: str, tag: Tag | None, entries: list[Entry]) -> Iterator[FeedPage]:
    """Split a scope's entries (newest first) into FeedPages of ``items_per_feed``."""
    size = config.items_per_feed
    updated = max((e.post.updated for e in entries), default=EPOCH)
    for number, page in enumerate(_pages(config, prefix, tag, len(entries), updated), 1):
        yield replace(page, entries=tuple(entries[(number - 1) * size : number * size]))


def _pages(config: Config, prefix: str, tag: Tag | None, count: int, updated: datetime) -> Iterator[FeedPage]:
    """The FeedPages of a scope of ``count`` posts, without entries."""
    size = config.items_per_feed
    last_page = max(1, -(-count // size))
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
            entries=(),
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
