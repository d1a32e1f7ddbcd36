"""The one builder of a host: scan, render what changed, publish — page 1s first, older pages after.

There is one way to build: :meth:`Builder.rescan` plans every document of the
site, reuses every document whose digest an earlier snapshot already has (so a
restart over unchanged content renders nothing: it adopts what is published),
renders the rest of what is needed first (the current feeds, the HTML pages,
OPML) and publishes that as one snapshot. :meth:`Builder.complete` then renders
the rest (archives, post pages) in the background, a chunk at a time, and
publishes the complete snapshot; a request for one of them meanwhile is rendered
at once by :meth:`Builder.render_now`. Every server builds through here.
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
from feeds.content.site import select
from feeds.errors import FeedsError, StorageError
from feeds.models import Post
from feeds.render.plan import Doc, Plan, plan
from feeds.render.store import RenderStore
from feeds.service import report, state
from feeds.service.activity import Activity
from feeds.service.errors import Cancelled, RewrittenHistory
from feeds.service.heap import settle_heap
from feeds.service.pool import Pool
from feeds.service.pruner import Pruner
from feeds.service.rendering import Renderer
from feeds.service.report import Failures
from feeds.service.sources import Source, Sync
from feeds.snapshot.diff import diff, same
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.manifest import Item, KeptPost, Manifest, dumps, last_modified
from feeds.snapshot.store import Store, Stored

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
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    #: Older pages rendered since the last publish (by (path, digest)): the next manifest names them.
    _late: dict[tuple[str, str], Item] = field(default_factory=dict, init=False, repr=False)
    _late_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _failures: Failures = field(default_factory=Failures, init=False, repr=False)
    _scans: int = field(default=0, init=False, repr=False)
    #: The posts of the site a plan was made from (the renderings it needs).
    _shown: tuple[Plan | None, tuple[Post, ...]] = field(default=(None, ()), init=False, repr=False)
    _pruner: Pruner = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.config, self.renders, self.store, self.pool, lambda post: self.index.body(post))
        self.index = ContentIndex(self.config, load_many=self.renderer.load_many)
        self.pool.on_step = self.activity.step
        self._pruner = Pruner(self.prune)
        if self.manifest is None:
            self.manifest = self.store.load_current()
        state.restore(self.state_dir, self.config, self.index)
        # Bodies no manifest names were written by a publish that never finished (a crash, a lost
        # builder): unflushed then, they may be empty after a power loss. Never trust them: write them again.
        self._prune_soon()

    @property
    def error(self) -> str | None:
        """Why the last scan, rebuild or publish failed (None: it did not)."""
        return self._failures.error

    # -- scanning and publishing --------------------------------------------------------

    def rescan(self, force: bool = False) -> bool:
        """Scan now; publish page 1s and HTML pages if anything changed. Returns whether a new snapshot was published.

        Never raises for bad content, a vanished folder or a full disk: the published snapshot stays as it is.
        A stop (:meth:`cancel`) ends it between two documents, with nothing of it published.
        """
        with self._lock:
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
        try:
            source = self.source(self.manifest.commit if self.manifest else None)
            if source.rewritten_from is not None and not force:
                raise RewrittenHistory(source.rewritten_from, source.commit or "")
            scan = self.index.scan(source.root, source.content_time, source.history)
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
        if current is not None and not (force or first or scan.changed or scan.removed or due or self.error):
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
            self._publish(manifest, plan_)
        except SnapshotError as e:
            return self._unwritten(e, now)
        self._recovered(now)
        report.new_problems(current, manifest)  # what the published snapshot leaves out, said at once
        state.save(self.state_dir, self.config, self.index)
        if manifest.complete:  # else complete() prunes after the older pages
            self._clean()  # leftovers of failed or killed publishes, and what only older snapshots named
        report.rebuilt(current, manifest, scan, rendered, scanned - started, time.perf_counter() - started)
        self._notify(current, manifest)
        settle_heap()
        return True

    def _build(self, scan: Scan, source: Source, now: datetime) -> tuple[Manifest, Plan, int]:
        """Plan the site, reuse what is published, render what is needed first; return the new manifest."""
        site = select(scan.posts, now, self.config.author.name)
        plan_ = plan(site, self.config, self.plan)
        self._shown = (plan_, site.posts)
        previous = self.manifest
        planned = diff(plan_, previous, self._late)
        items, pending, todo = planned.reused, planned.pending, planned.render
        content_time = scan.content_time
        for doc, stored in self.renderer.docs(todo):
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
            self._failures.error = reason
            self.renderer.forget()  # renderings went with the folder (render/): believing them there fails every build
            self.index.forget_saved()  # the saved index went with the folder (state/)
            with self._late_lock:
                self._late.clear()

    def complete(self) -> bool:
        """Render the older pages of the published snapshot and publish it complete; return whether it is complete.

        Works a chunk at a time, releasing the lock in between so a rescan (an edit)
        never waits for a whole cold build; a stop (:meth:`cancel`) ends it between two documents.
        """
        try:
            while True:
                self.activity.step()
                with self._lock:
                    done = self._complete_chunk()
                if done is not None:
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
            item = self._item(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, now)
            with self._late_lock:
                self._late[(doc.path, doc.digest)] = item
        return None

    def _publish_complete(self, manifest: Manifest) -> bool:
        items = dict(manifest.items)
        for path, waiting in manifest.pending.items():
            items[path] = self._late[(path, waiting.digest)]
        assert self.plan is not None
        ordered = {doc.path: items[doc.path] for doc in self.plan.docs}
        complete = replace(manifest, items=ordered, pending={}, seq=manifest.seq + 1)
        self.activity.step()
        self.activity.doing("publishing")
        try:
            self._publish(complete)
        except SnapshotError as e:
            return self._unwritten(e, self.clock())
        self._recovered(self.clock())
        self._notify(manifest, complete)
        self._clean()
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
        ((_, stored),) = self.renderer.docs([doc], parallel=False)
        item = self._item(doc, stored, (waiting.previous_etag, waiting.previous_modified), manifest.content_time, self.clock())
        with self._late_lock:
            self._late.setdefault((path, doc.digest), item)
            return self._late[(path, doc.digest)]

    def _restore(self, item: Item) -> Item:
        """Write the body of a published item again if its object is gone (a snapshot folder emptied under us)."""
        doc = self.plan.find(item.path) if self.plan is not None else None
        if doc is None or doc.digest != item.digest or self.store.object_path(item.etag, gzip=True).exists():
            return item
        self.renderer.docs([doc], parallel=False)
        return item

    # -- stopping ------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop building for good: the build in progress ends between two documents; the helper processes end now."""
        self.activity.cancel()
        self._pruner.stop()
        self.pool.cancel()

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no build runs (or ``deadline``, a ``time.monotonic()`` value, passes); return whether none does."""
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        self._lock.release()
        return True

    # -- failures, logs, listeners ------------------------------------------------------

    def _failed(self, event: str, error: str, now: datetime, cause: str, **fields: Any) -> bool:
        """Keep serving what is published; log the cause once (not at every retry)."""
        self.last_scan = now
        self._failures.failed(event, error, f"{event}: {cause}", serving=self.manifest.version if self.manifest else "none", **fields)
        return False

    def _unwritten(self, e: StorageError, now: datetime) -> bool:
        return self._failed("publish_failed", f"publish failed: {e}", now, e.cause or e.message, path=e.path, reason=e.message)

    def _recovered(self, now: datetime, settled: bool = True) -> None:
        # With older pages still to write (complete()), their failure is not logged again at each scan.
        self._failures.recovered(settled)
        self.last_scan = now

    def _notify(self, old: Manifest | None, new: Manifest) -> None:
        for listener in self.listeners:
            try:
                listener(old, new)
            except Exception:
                logging.getLogger("feeds").exception("publish listener failed")

    def prune(self) -> bool:
        """Remove what no snapshot needs any more (manifests no worker serves, the bodies only they named); return whether all went."""
        with self._lock:
            live = [m for m in (self.manifest,) if m is not None]
            with self._late_lock:
                extra = [item.etag for item in self._late.values()]
            return not self.store.prune(live, extra).held

    def _clean(self) -> None:
        """After a complete snapshot is published: prune the snapshot folder, and the renderings no post of it needs."""
        self._prune_soon()
        shown_plan, posts = self._shown
        if shown_plan is self.plan and posts:
            self.renderer.prune(posts)

    def _prune_soon(self) -> None:
        """Prune now, and again a moment later if a worker still serves an older manifest (``Pruner``)."""
        if not self.prune():
            self._pruner.schedule()
