"""The one builder of a host: scan, render what changed, publish — page 1s first, older pages after.

There is one way to build: :meth:`Builder.rescan` plans every document of the site, reuses every document whose digest
an earlier snapshot already has (so a restart over unchanged content renders nothing: it adopts what is published),
renders the rest of what is needed first (the current feeds, the HTML pages, OPML) and publishes that as one snapshot;
the work after it (saving the index, pruning) waits until the workers have it (``feeds.service.after``).
:meth:`Builder.complete` then renders the rest (archives, post pages) in the background, a chunk at a time, and
publishes the complete snapshot; a request for one of them meanwhile is rendered at once by :meth:`Builder.render_now`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.content.errors import ContentRootError
from feeds.content.index import ContentIndex, Scan
from feeds.errors import FeedsError, StorageError
from feeds.models import Post
from feeds.render.incremental import Planner
from feeds.render.plan import Plan
from feeds.render.store import RenderStore
from feeds.service import report, state
from feeds.service.activity import Activity
from feeds.service.after import AfterPublish
from feeds.service.assemble import assemble, item_of, plan_change
from feeds.service.errors import Cancelled, RewrittenHistory
from feeds.service.heap import settle_heap
from feeds.service.pool import Pool
from feeds.service.pruner import Dropped, Pruner
from feeds.service.rendering import Renderer
from feeds.service.report import Failures
from feeds.service.sources import Source, Sync
from feeds.service.watch import EVERYTHING, Paths, Touched
from feeds.snapshot.diff import same
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.manifest import MAX_DEPTH, Changes, Item, Manifest, dumps, dumps_delta
from feeds.snapshot.media import MediaFolder
from feeds.snapshot.store import Store

#: Older pages rendered per step of :meth:`Builder.complete`; a rescan can run between two steps.
CHUNK = 96
#: Called after each publish with the previous and the new manifest (WebSub pings, object storage).
Listener = Callable[[Manifest | None, Manifest], None]


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
    #: Wall-clock time of the last scan.
    last_scan: datetime | None = None
    #: What the builder is doing (scanning, rendering, …) and whether it must stop.
    activity: Activity = field(default_factory=Activity)
    index: ContentIndex = field(init=False)
    renderer: Renderer = field(init=False)
    #: The media folder beside the posts (each file hashed once per version).
    media: MediaFolder = field(init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    #: Older pages rendered since the last publish (by (path, digest)): the next manifest names them.
    _late: dict[tuple[str, str], Item] = field(default_factory=dict, init=False, repr=False)
    _late_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _failures: Failures = field(default_factory=Failures, init=False, repr=False)
    _scan_waiting: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _scans: int = field(default=0, init=False, repr=False)
    #: The posts of the site a plan was made from (the renderings it needs).
    _shown: tuple[Plan | None, tuple[Post, ...]] = field(default=(None, ()), init=False, repr=False)
    _pruner: Pruner = field(init=False, repr=False)
    _dropped: Dropped = field(default_factory=Dropped, init=False, repr=False)
    #: Plans each change from the previous plan; the files events named since the last scan, and whether events report
    #: every change of the content folder (then scans look only where they point) (``feeds.service.watch``).
    planner: Planner = field(init=False, repr=False)
    touched: Touched = field(default_factory=Touched, init=False, repr=False)
    watching: bool = field(default=False, init=False)
    #: Saving the index, pruning and settling the heap after a publish: at once, or once the workers have it (``after``).
    after: AfterPublish = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.config, self.renders, self.store, self.pool, lambda post: self.index.body(post))
        self.index, self.planner = ContentIndex(self.config, self.renderer.load_many, self.renderer.read_many), Planner(self.config)
        self.pool.on_step = self.activity.step
        self._pruner = Pruner(self.prune)
        self.after = AfterPublish(self._after_publish, self._lock, self._scan_waiting)
        if self.manifest is None:
            self.manifest = self.store.load_current()
        state.restore(self.state_dir, self.config, self.index)
        self.media = MediaFolder(self.state_dir / "media.json")
        # Bodies no manifest names were written by a publish that never finished (a crash, a lost
        # builder): unflushed then, they may be empty after a power loss. Never trust them: write them again.
        self._prune_soon()

    error = property(lambda self: self._failures.error, doc="Why the last scan, rebuild or publish failed (None: it did not).")

    # -- scanning and publishing --------------------------------------------------------

    def rescan(self, force: bool = False) -> bool:
        """Scan now; publish page 1s and HTML pages if anything changed. Returns whether a new snapshot was published.

        Never raises for bad content, a vanished folder or a full disk: the published snapshot stays as it is. A stop
        (:meth:`cancel`) ends it between two documents, with nothing of it published."""
        self._scan_waiting.set()  # the older pages' loop lets this scan in at its next chunk
        with self._lock:
            self._scan_waiting.clear()
            started = time.perf_counter()
            try:
                self.activity.doing("scanning")
                self.activity.step()  # stopped already: not one more scan
                return self._rescan(force, started)
            except Cancelled:
                log.event("build_cancelled", serving=self.manifest.version if self.manifest else "none")
                return False
            finally:
                self._scans += 1
                self.activity.doing("idle")

    def _rescan(self, force: bool, started: float) -> bool:
        now = self.clock()
        if self._scans == 0 and self.manifest is None:  # a cold start: the helpers start with the scan, if it is big
            self.renderer.warm_up(self.config.content_dir)
        try:
            source = self.source(self.manifest.commit if self.manifest else None)
            if source.rewritten_from is not None and not force:
                raise RewrittenHistory(source.rewritten_from, source.commit or "")
            paths: Paths = self.touched.take()  # what events named; all of it when not watching, forced or first
            paths = None if force or not self.watching or self._scans == 0 else paths
            try:
                scan = self.index.scan(source.root, source.content_time, source.history, paths)
            except BaseException:
                self.touched.add(EVERYTHING)  # what the events named is not lost with this scan
                raise
            if media_changed := self.media.scan(source.root):  # (a few files: listed at every scan)
                self.planner.forget()  # an enclosure's length may change in any post: planned from scratch
            scanned = time.perf_counter()
        except Cancelled:
            raise
        except ContentRootError as e:
            return self._failed("scan_failed", f"{e}", now, e.message, path=e.path, reason=e.message)
        except FeedsError as e:  # a git remote that cannot be fetched, …
            return self._failed("scan_failed", f"{e}", now, str(e), reason=str(e))
        except Exception as e:  # a bug in scanning must not take the served feeds down either
            logging.getLogger("feeds").exception("scan failed")
            return self._failed("scan_failed", f"scan failed: {e!r}", now, repr(e), reason=repr(e))
        current = self.manifest
        due = current is not None and current.next_change is not None and current.next_change <= now
        first = self._scans == 0
        if current is not None and not (force or first or scan.changed or scan.removed or media_changed or due or self.error):
            self.last_scan = now
            return False
        try:
            self.activity.doing("rendering")
            manifest, plan_, rendered = self._build(scan, source, now)
            self.activity.step()  # (a stop after the last document: nothing published)
        except Cancelled:
            raise
        except StorageError as e:  # a body or rendering could not be written (a full, read-only or failing disk)
            return self._unwritten(e, now)
        except Exception as e:
            logging.getLogger("feeds").exception("rebuild failed")
            return self._failed("rebuild_failed", f"rebuild failed: {e!r}", now, repr(e), reason=repr(e))
        self.last_scan = now
        if current is not None and same(current, manifest):
            self.plan = plan_
            self._recovered(now, settled=current.complete)
            state.save(self.state_dir, self.config, self.index)  # what changed since the last save (the index knows)
            log.event("adopt", version=current.version, posts=current.post_count, pending=len(current.pending))
            settle_heap()
            return False
        self.activity.doing("publishing")
        try:
            manifest = self._publish(manifest, plan_)
        except SnapshotError as e:
            return self._unwritten(e, now)
        self._recovered(now)
        report.notify(self.listeners, current, manifest)  # first: this worker serves it at once, the hubs hear of it
        report.new_problems(current, manifest)  # what the published snapshot leaves out, said at once
        report.rebuilt(current, manifest, scan, rendered, scanned - started, time.perf_counter() - started)
        self.after.published(clean=manifest.complete)  # else complete() prunes after the older pages
        return True

    def _after_publish(self, clean: bool) -> None:
        """Save what changed in the index; after a complete publish, prune the snapshot folder (and now and then the
        renderings no post needs); settle the heap."""
        state.save(self.state_dir, self.config, self.index)
        if clean:
            self._prune_soon()  # leftovers of failed or killed publishes, and what only older snapshots named
            shown_plan, posts = self._shown
            if shown_plan is self.plan and posts and self._dropped.sweeping():
                self.renderer.prune(posts)
        settle_heap()

    def _build(self, scan: Scan, source: Source, now: datetime) -> tuple[Manifest, Plan, int]:
        """Plan the site (what changed, when the planner can), reuse what is published, render what is needed first."""
        planned = plan_change(self.planner, self.media, self.config.site_url, scan, now, self.plan)
        self._shown = (planned.plan, planned.site.posts)
        manifest, rendered = assemble(planned, scan, source, now, self.manifest, self._late, self.renderer, self.media)
        return manifest, planned.plan, rendered

    def _publish(self, manifest: Manifest, plan_: Plan | None = None) -> Manifest:
        # The builder answers for the new snapshot before any worker can see it (a follower asking for one
        # of its pending pages must never get the previous snapshot's bytes).
        before, prior = (self.manifest, self.plan), self.manifest
        chain = (prior.name(), *prior.parents) if prior is not None and manifest.changes is not None else ()
        manifest = replace(manifest, parents=chain if len(chain) <= MAX_DEPTH else ())  # written as its change: followers read that
        self.manifest, self.plan = manifest, plan_ or self.plan
        try:
            flushed = time.perf_counter()  # (the flush of the new bodies is most of it: its time is in the log line)
            self.store.publish(manifest, dumps_delta(manifest) if manifest.parents else dumps(manifest))
        except SnapshotError:
            self.manifest, self.plan = before
            with self._late_lock:  # a failed flush discards new bodies (Store.publish): render them again
                self._late.clear()
            raise
        self._dropped.published(before[0], manifest)
        with self._late_lock:  # (what is named now is no longer late; in time of the late pages, not of the site)
            items, pending = manifest.items, manifest.pending
            self._late = {k: i for k, i in self._late.items() if k[0] in pending and getattr(items.get(k[0]), "digest", None) != k[1]}
        seconds = f"{time.perf_counter() - flushed:.3f}"
        log.event("publish", version=manifest.version, seq=manifest.seq, documents=len(items), pending=len(pending), seconds=seconds)
        return manifest

    def forget_disk(self, reason: str) -> None:
        """Forget what this builder wrote to disk (the snapshot folder was removed): the next scan renders and publishes it all again."""
        with self._lock:
            self.manifest = None
            self._failures.error = reason
            self.renderer.forget()  # renderings went with the folder (render/): believing them there fails every build
            self.index.forget_saved()  # the saved index went with the folder (state/)
            with self._late_lock:
                self._late.clear()

    def complete(self) -> bool:
        """Render the older pages of the published snapshot and publish it complete; return whether it is complete.

        Works a chunk at a time, letting a waiting rescan (an edit) in between: it never waits for a whole cold build; a
        stop (:meth:`cancel`) ends it between two documents. The work due after a publish (``after``) comes first when
        there are many pages to render (a cold build's), else at the end (an edit's few pages go first)."""
        try:
            while True:
                if self.manifest is not None and len(self.manifest.pending) > CHUNK:  # (an edit's few pages go first)
                    self.after.run()  # the page 1s' work after them, once the workers have them (a scan coming goes first)
                self.activity.step()
                while self._scan_waiting.is_set():  # (a lock is not fair: give a waiting scan its turn)
                    time.sleep(0.001)
                with self._lock:
                    done = self._complete_chunk()
                if done is not None:
                    self.after.run()
                    return done
        except Cancelled:
            log.event("build_cancelled", serving=self.manifest.version if self.manifest else "none")
            return False
        finally:
            if self.activity.name in ("completing", "publishing"):
                self.activity.doing("idle")

    def _complete_chunk(self) -> bool | None:
        """Render the next CHUNK of older pages, or publish the complete snapshot; None: more to do."""
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
        self.activity.doing("completing")
        now = self.clock()
        try:
            rendered = self.renderer.docs(todo)
        except StorageError as e:
            return self._unwritten(e, now)
        for doc, stored in rendered:
            waiting = manifest.pending[doc.path]
            item = item_of(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, now)
            with self._late_lock:
                self._late[(doc.path, doc.digest)] = item
        return None

    def _publish_complete(self, manifest: Manifest) -> bool:
        items = dict(manifest.items)
        for path, waiting in manifest.pending.items():
            items[path] = self._late[(path, waiting.digest)]
        rendered = frozenset(manifest.pending)  # (listed after the rest: no pass over the whole plan to order them)
        complete = replace(manifest, items=items, pending={}, seq=manifest.seq + 1, changes=Changes(rendered, unpending=rendered))
        self.activity.step()
        self.activity.doing("publishing")
        try:
            complete = self._publish(complete)
        except SnapshotError as e:
            return self._unwritten(e, self.clock())
        self._recovered(self.clock())
        report.notify(self.listeners, manifest, complete)
        self.after.published(clean=True)
        return True

    def render_now(self, path: str, digest: str | None = None) -> Item | None:
        """The item of a pending document, rendered now if nobody has yet (a request is waiting for it).

        With ``digest`` (what the asking worker's manifest lists), only an item of that digest is answered, so a worker a
        publish behind or ahead never gets another snapshot's bytes."""
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
        ((_, stored),) = self.renderer.docs([doc], parallel=False)
        item = item_of(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, self.clock())
        with self._late_lock:
            self._late.setdefault((path, doc.digest), item)
            return self._late[(path, doc.digest)]

    def _restore(self, item: Item) -> Item:
        """Write the body of a published item again if its object is gone (a snapshot folder emptied under us)."""
        doc = self.plan.find(item.path) if self.plan is not None else None
        if doc is not None and doc.digest == item.digest and not self.store.object_path(item.etag, gzip=True).exists():
            self.renderer.docs([doc], parallel=False)
        return item

    # -- stopping, failures, logs, listeners --------------------------------------------
    def cancel(self) -> None:
        """Stop building for good: the build in progress ends between two documents; the helper processes end now."""
        self.activity.cancel()
        self._pruner.stop()
        self.pool.cancel()

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no build runs (or ``deadline``, a ``time.monotonic()`` value, passes); return whether none does."""
        if idle := self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self._lock.release()
        return idle

    def _failed(self, event: str, error: str, now: datetime, cause: str, **fields: Any) -> bool:
        """Keep serving what is published; log the cause once (not at every retry)."""
        self.last_scan = now
        self._failures.failed(event, error, f"{event}: {cause}", serving=self.manifest.version if self.manifest else "none", **fields)
        return False

    def _unwritten(self, e: StorageError, now: datetime) -> bool:
        self._dropped.etags = None  # what the failed attempt wrote: the next prune looks at every file (and temporary one)
        return self._failed("publish_failed", f"publish failed: {e}", now, e.cause or e.message, path=e.path, reason=e.message)

    def _recovered(self, now: datetime, settled: bool = True) -> None:
        self._failures.recovered(settled)  # (older pages still to write, complete(): their failure is not logged again)
        self.last_scan = now

    def prune(self) -> bool:
        """Remove what no snapshot needs any more (manifests no worker serves, the bodies only they named); return whether all went."""
        with self._lock:
            live = [m for m in (self.manifest,) if m is not None]
            with self._late_lock:
                extra = [item.etag for item in self._late.values()]
            only = self._dropped.next()  # what the publishes dropped, or now and then every body
            done = not self.store.prune(live, extra, only=only).held
            if done:
                self._dropped.pruned(only)
            return done

    def _prune_soon(self) -> None:
        """Prune now, and again a moment later if a worker still serves an older manifest (``Pruner``)."""
        if not self.prune():
            self._pruner.schedule()
