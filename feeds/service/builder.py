"""The one builder of a host: scan, render what changed, publish — page 1s first, older pages after.

There is one way to build: :meth:`Builder.rescan` plans every document of the
site, reuses every document whose digest an earlier snapshot already has (so a
restart over unchanged content renders nothing: it adopts what is published),
renders the rest of what is needed first (page 1 of every feed, the HTML pages,
OPML) and publishes that as one snapshot. :meth:`Builder.complete` then
renders the older pages in the background, a chunk at a time, and publishes
the complete snapshot; a request for an older page meanwhile is rendered at
once by :meth:`Builder.render_now`. ``feeds serve``, ``feeds build``, gunicorn
and granian all build through here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds import log, urls
from feeds.config import Config
from feeds.content.files import SourceFile
from feeds.content.index import ContentIndex, Scan
from feeds.content.post import Loaded
from feeds.content.site import select
from feeds.errors import ContentRootError, FeedsError, StorageError
from feeds.models import Post
from feeds.render.formats import FORMATS
from feeds.render.plan import Doc, Plan, plan
from feeds.render.store import RenderStore, render_key
from feeds.service import jobs, state
from feeds.service.heap import settle_heap
from feeds.service.pool import Pool
from feeds.service.sources import Source, Sync
from feeds.snapshot.diff import changed_paths, diff, same
from feeds.snapshot.manifest import Item, KeptPost, Manifest, dumps, last_modified
from feeds.snapshot.store import SnapshotError, Store, Stored

#: Older pages rendered per step of :meth:`Builder.complete`; a rescan can run between two steps.
CHUNK = 96
#: How much work makes it worth starting the helper processes (about half a second of CPU for their
#: imports): files to parse (~0.1–0.25 ms each), posts to render (~0.35 ms), documents to render (~2 ms).
START_POOL = {"files": 3000, "posts": 1500, "docs": 300}
#: Called after each publish with the previous and the new manifest (WebSub pings, object storage).
Listener = Callable[[Manifest | None, Manifest], None]


class RewrittenHistory(FeedsError):
    """The content branch was force-pushed: its new commit does not descend from the published one."""

    def __init__(self, published: str, fetched: str) -> None:
        super().__init__(
            f"the content branch was force-pushed: {fetched[:12]} does not descend from the published {published[:12]}; "
            "keeping the last snapshot (POST /-/rebuild?force=1 publishes the new history)"
        )


@dataclass
class Builder:
    """Owns the content index and publishes snapshots to the store; one per host (the lock holder)."""

    config: Config
    store: Store
    renders: RenderStore
    pool: Pool
    #: Folder for the state that must survive a restart (the content index with last good versions).
    state_dir: Path
    source: Sync
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    listeners: list[Listener] = field(default_factory=list)
    #: The published manifest and the plan behind it.
    manifest: Manifest | None = None
    plan: Plan | None = None
    #: Wall-clock time of the last scan, and why the last scan, rebuild or publish failed.
    last_scan: datetime | None = None
    error: str | None = None
    index: ContentIndex = field(init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    #: Older pages rendered since the last publish (by (path, digest)): the next manifest names them.
    _late: dict[tuple[str, str], Item] = field(default_factory=dict, init=False, repr=False)
    _late_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    #: Render-store keys known to exist.
    _rendered: set[str] = field(default_factory=set, init=False, repr=False)
    _failure: str | None = field(default=None, init=False, repr=False)
    _scans: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = ContentIndex(self.config, load_many=self._load_many)
        if self.manifest is None:
            self.manifest = self.store.load_current()
        state.restore(self.state_dir, self.config, self.index)
        # Bodies no manifest names were written by a publish that never finished (a crash, a lost
        # builder): unflushed then, they may be empty after a power loss. Never trust them: write them again.
        self.prune()

    # -- scanning and publishing --------------------------------------------------------

    def rescan(self, force: bool = False) -> bool:
        """Scan now; publish page 1s and HTML pages if anything changed. Returns whether a new snapshot was published.

        Never raises for bad content, a vanished folder or a full disk: the published snapshot stays as it is.
        """
        with self._lock:
            started = time.perf_counter()
            try:
                return self._rescan(force, started)
            finally:
                self._scans += 1

    def _rescan(self, force: bool, started: float) -> bool:
        now = self.clock()
        try:
            source = self.source(self.manifest.commit if self.manifest else None)
            if source.rewritten_from is not None and not force:
                raise RewrittenHistory(source.rewritten_from, source.commit or "")
            scan = self.index.scan(source.root, source.content_time, source.history)
            scanned = time.perf_counter()
        except ContentRootError as e:
            return self._failed("scan_failed", f"{e}", now, path=e.path, reason=e.message)
        except FeedsError as e:  # a git remote that cannot be fetched, …
            return self._failed("scan_failed", f"{e}", now, reason=str(e))
        except Exception as e:  # a bug in scanning must not take the served feeds down either
            logging.getLogger("feeds").exception("scan failed")
            return self._failed("scan_failed", f"scan failed: {e!r}", now, reason=repr(e))
        current = self.manifest
        due = current is not None and current.next_change is not None and current.next_change <= now
        first = self._scans == 0
        if current is not None and not (force or first or scan.changed or scan.removed or due or self.error):
            self.last_scan = now
            return False
        try:
            manifest, plan_, rendered = self._build(scan, source, now)
        except StorageError as e:  # a body or rendering could not be written (a full, read-only or failing disk)
            return self._failed("publish_failed", f"publish failed: {e}", now, path=e.path, reason=e.message)
        except Exception as e:
            logging.getLogger("feeds").exception("rebuild failed")
            return self._failed("rebuild_failed", f"rebuild failed: {e!r}", now, reason=repr(e))
        self.last_scan = now
        if current is not None and same(current, manifest):
            self.plan = plan_
            self._recovered(now, settled=current.complete)
            state.save(self.state_dir, self.config, self.index)  # what changed since the last save (the index knows)
            log.event("adopt", version=current.version, posts=current.post_count, pending=len(current.pending))
            settle_heap()
            return False
        try:
            self._publish(manifest, plan_)
        except SnapshotError as e:
            return self._failed("publish_failed", f"publish failed: {e}", now, path=e.path, reason=e.message)
        self._recovered(now)
        self._log_problems(current, manifest)  # what the published snapshot leaves out, said at once
        state.save(self.state_dir, self.config, self.index)
        if manifest.complete:  # else complete() prunes after the older pages
            self.prune()  # leftovers of failed or killed publishes, and what only older snapshots named
        changed = changed_paths(current, manifest)
        log.event(
            "rebuild",
            version=manifest.version,
            files_changed=len(scan.changed),
            files_removed=len(scan.removed),
            changed=_names(scan.changed + scan.removed),
            bodies_changed=len(changed),
            feeds_changed=sum(1 for path in changed if _is_feed(path)),
            rendered=rendered,
            pending=len(manifest.pending),
            posts=manifest.post_count,
            problems=len(manifest.problems) + manifest.problems_omitted,
            scan_seconds=f"{scanned - started:.3f}",
            seconds=f"{time.perf_counter() - started:.3f}",
        )
        self._notify(current, manifest)
        settle_heap()
        return True

    def _build(self, scan: Scan, source: Source, now: datetime) -> tuple[Manifest, Plan, int]:
        """Plan the site, reuse what is published, render what is needed first; return the new manifest."""
        site = select(scan.posts, now, self.config.author.name)
        plan_ = plan(site, self.config, self.plan)
        previous = self.manifest
        planned = diff(plan_, previous, self._late)
        items, pending, todo = planned.reused, planned.pending, planned.render
        content_time = scan.content_time
        for doc, stored in self._render_docs(todo):
            old = previous.items.get(doc.path) if previous else None
            items[doc.path] = self._item(doc, stored, (old.etag, old.last_modified) if old else (None, 0), content_time, now)
        ordered = {doc.path: items[doc.path] for doc in plan_.docs if doc.path in items}
        manifest = Manifest(
            version=plan_.version,
            seq=(previous.seq + 1) if previous else 1,
            built_at=now,
            items=ordered,
            pending=pending,
            post_count=len(site.posts),
            tags=site.tags.tags,
            problems=scan.problems + site.problems + plan_.problems,
            kept=tuple(KeptPost(k.post.source, k.post.title, k.reason, k.since) for k in scan.kept),
            next_change=site.next_change,
            content_time=content_time,
            commit=source.commit,
            scopes=plan_.counts,
        )
        return manifest, plan_, len(todo)

    def _item(self, doc: Doc, stored: Stored, previous: tuple[str | None, int], content_time: datetime, now: datetime) -> Item:
        modified = last_modified(previous, stored.etag, content_time, doc.newest, now)
        return Item(doc.path, doc.media_type, stored.etag, modified, stored.size, stored.gzip_size, doc.digest)

    def _publish(self, manifest: Manifest, plan_: Plan | None = None) -> None:
        # The builder answers for the new snapshot before any worker can see it (a follower asking for one
        # of its pending pages must never get the previous snapshot's bytes).
        before = self.manifest, self.plan
        self.manifest, self.plan = manifest, plan_ or self.plan
        try:
            self.store.publish(manifest, dumps(manifest))
        except SnapshotError:
            self.manifest, self.plan = before
            with self._late_lock:
                self._late.clear()  # a failed flush discards new bodies (Store.publish): render them again
            raise
        with self._late_lock:
            named = {(path, item.digest) for path, item in manifest.items.items()}
            self._late = {key: item for key, item in self._late.items() if key not in named and key[0] in manifest.pending}
        log.event("publish", version=manifest.version, seq=manifest.seq, documents=len(manifest.items), pending=len(manifest.pending))

    def forget_disk(self, reason: str) -> None:
        """Forget what this builder wrote to disk (the snapshot folder was removed): the next scan renders and publishes it all again."""
        with self._lock:
            self.manifest = None
            self.error = reason
            self._rendered.clear()  # renderings went with the folder (render/): believing them there fails every build
            self.index.forget_saved()  # the saved index went with the folder (state/)
            with self._late_lock:
                self._late.clear()

    def complete(self, budget: float | None = None) -> bool:
        """Render the older pages of the published snapshot and publish it complete; return whether it is complete.

        Works a chunk at a time, releasing the lock in between so a rescan (an edit)
        never waits for a whole cold build; with ``budget`` (seconds) it stops early.
        """
        deadline = time.monotonic() + budget if budget is not None else None
        while True:
            with self._lock:
                manifest, plan_ = self.manifest, self.plan
                if manifest is None or plan_ is None or manifest.complete:
                    return manifest is not None and manifest.complete
                todo = []
                for path, waiting in manifest.pending.items():
                    if (path, waiting.digest) in self._late:
                        continue
                    doc = plan_.find(path)
                    if doc is None or doc.digest != waiting.digest:
                        return False  # planned from other content: the next rescan plans again
                    todo.append(doc)
                    if len(todo) == CHUNK:
                        break
                if not todo:
                    return self._publish_complete(manifest)
                now = self.clock()
                try:
                    rendered = self._render_docs(todo)
                except StorageError as e:
                    return self._failed("publish_failed", f"publish failed: {e}", now, path=e.path, reason=e.message)
                for doc, stored in rendered:
                    waiting = manifest.pending[doc.path]
                    item = self._item(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, now)
                    with self._late_lock:
                        self._late[(doc.path, doc.digest)] = item
            if deadline is not None and time.monotonic() > deadline:
                return False

    def _publish_complete(self, manifest: Manifest) -> bool:
        items = dict(manifest.items)
        for path, waiting in manifest.pending.items():
            items[path] = self._late[(path, waiting.digest)]
        assert self.plan is not None
        ordered = {doc.path: items[doc.path] for doc in self.plan.docs}
        complete = replace(manifest, items=ordered, pending={}, seq=manifest.seq + 1)
        try:
            self._publish(complete)
        except SnapshotError as e:
            self._failed("publish_failed", f"publish failed: {e}", self.clock(), path=e.path, reason=e.message)
            return False
        self._notify(manifest, complete)
        self.prune()
        settle_heap()
        return True

    def render_now(self, path: str, digest: str | None = None) -> Item | None:
        """The item of a pending document, rendered now if nobody has yet (a request is waiting for it).

        With ``digest`` (what the asking worker's manifest lists), only an item of that digest is
        answered, so a worker a publish behind or ahead never gets another snapshot's bytes.
        """
        manifest, plan_ = self.manifest, self.plan
        if manifest is None:
            return None
        done = manifest.items.get(path)
        if done is not None and digest in (None, done.digest):
            return self._restore(done)
        waiting = manifest.pending.get(path)
        doc = plan_.find(path) if plan_ is not None else None
        if doc is None or waiting is None or doc.digest != (digest or waiting.digest):
            return None  # not this builder's pending document (the asking worker serves another snapshot): no answer
        with self._late_lock:
            item = self._late.get((path, doc.digest))
        if item is not None:
            return item
        ((_, stored),) = self._render_docs([doc], parallel=False)
        item = self._item(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, self.clock())
        with self._late_lock:
            self._late.setdefault((path, doc.digest), item)
            return self._late[(path, doc.digest)]

    def _restore(self, item: Item) -> Item:
        """Write the body of a published item again if its object is gone (a snapshot folder emptied under us)."""
        doc = self.plan.find(item.path) if self.plan is not None else None
        if doc is None or doc.digest != item.digest or self.store.object_path(item.etag, gzip=True).exists():
            return item
        self._render_docs([doc], parallel=False)
        return item

    # -- rendering ----------------------------------------------------------------------

    def _render_docs(self, docs: Sequence[Doc], parallel: bool = True) -> list[tuple[Doc, Stored]]:
        """Render posts the documents show that are not rendered yet, then the documents; bodies go to the store."""
        if not docs:
            return []
        posts = {render_key(p): p for doc in docs for p in doc.posts}
        self._render_posts(posts, parallel)
        try:
            results = self._render_docs_once(docs, parallel)
        except jobs.NotRendered:  # renderings went missing (or were damaged) since: check them all, render again, once
            self._rendered.difference_update(key for key in posts if not self.renders.has(key))
            self._render_posts(posts, parallel)
            results = self._render_docs_once(docs, parallel)
        by_path = dict(results)
        return [(doc, by_path[doc.path]) for doc in docs]

    def _render_docs_once(self, docs: Sequence[Doc], parallel: bool) -> list[tuple[str, Stored]]:
        if parallel:
            folders = (self.renders.folder, self.store.folder)
            return self.pool.map(jobs.render_docs, list(docs), self.config, *folders, min_items=24, start_from=START_POOL["docs"])
        return jobs.render_docs(docs, self.config, self.renders.folder, self.store.folder)

    def _render_posts(self, posts: dict[str, Post], parallel: bool) -> None:
        work = []
        for key, post in posts.items():
            if key in self._rendered:
                continue
            if self.renders.has(key):  # rendered by an earlier builder
                self._rendered.add(key)
                continue
            body = self.index.body(post)
            if body is None:
                raise FeedsError(f"{post.source}: the body of this version is no longer known; rescanning")
            work.append((key, body, post.url))
        if work:
            if parallel:
                folder, hosts = self.renders.folder, self.config.iframe_hosts
                done = self.pool.map(jobs.render_posts, work, folder, hosts, min_items=48, start_from=START_POOL["posts"])
            else:
                done = jobs.render_posts(work, self.renders.folder, self.config.iframe_hosts)
            self._rendered.update(done)

    def _load_many(self, files: Sequence[SourceFile], config: Config) -> list[Loaded]:
        return self.pool.map(jobs.load_files, list(files), config, min_items=256, start_from=START_POOL["files"])

    # -- failures, logs, listeners ------------------------------------------------------

    def _failed(self, event: str, error: str, now: datetime, **fields: Any) -> bool:
        """Keep serving what is published; log the cause once (not at every retry)."""
        self.error = error
        self.last_scan = now
        if error != self._failure:
            self._failure = error
            log.event(event, logging.ERROR, serving=self.manifest.version if self.manifest else "none", **fields)
        else:
            log.tally(event, **fields)  # counted in /metrics, not logged again
        return False

    def _recovered(self, now: datetime, settled: bool = True) -> None:
        self.error = None
        if settled:  # with older pages still to write (complete()), their failure is not logged again at each scan
            self._failure = None
        self.last_scan = now

    def _log_problems(self, old: Manifest | None, new: Manifest) -> None:
        # Each problem is logged once, when it appears (or at start-up), not at every rebuild.
        known = set(old.problems) if old else set()
        for problem in new.problems:
            if problem not in known:
                log.event("content_problem", logging.WARNING, problem=str(problem))

    def _notify(self, old: Manifest | None, new: Manifest) -> None:
        for listener in self.listeners:
            try:
                listener(old, new)
            except Exception:
                logging.getLogger("feeds").exception("publish listener failed")

    def prune(self) -> None:
        """Remove what no snapshot needs any more (old manifests, bodies, renderings)."""
        with self._lock:
            live = [m for m in (self.manifest,) if m is not None]
            with self._late_lock:
                extra = [item.etag for item in self._late.values()]
            self.store.prune(live, extra)

    def late_items(self) -> Iterable[Item]:
        with self._late_lock:
            return list(self._late.values())


def _is_feed(path: str) -> bool:
    parts = urls.split_feed_path(path)
    return parts is not None and parts[1] in FORMATS


def _names(files: tuple[str, ...], limit: int = 10) -> str:
    """Name the changed files in a log field, at most ``limit`` of them."""
    more = f",…(+{len(files) - limit})" if len(files) > limit else ""
    return ",".join(files[:limit]) + more
