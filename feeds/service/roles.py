"""A worker's role on its host: the builder (it holds the lock) or a follower (it asks the builder).

``feeds serve`` and the tests run one process, which is simply the builder of
its host; under gunicorn or granian one worker is the builder and the others
follow. A follower takes over when the builder's lock comes free. A role gets
what it works with when it is made (the builder, the lock, the status file, the
served manifest); it never reaches back into the runtime that holds it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from feeds import log
from feeds.config import Config
from feeds.service import after, wire
from feeds.service.builder import Builder
from feeds.service.coalesce import Coalescer
from feeds.service.folders import prepare_dir
from feeds.service.host import BuilderServer, HostLock, ask
from feeds.service.served import Served
from feeds.service.status import StatusFile
from feeds.service.watch import EVERYTHING, Watch, watch
from feeds.service.wire import BuilderStatus, RebuildAnswer, RebuildRequest, RenderAnswer, RenderRequest
from feeds.snapshot.manifest import Item

#: How long a request for an older page not rendered yet waits for the builder (seconds).
PENDING_WAIT = 0.9
#: How long a POST /-/rebuild answered by a follower waits for the builder's scan.
REBUILD_WAIT = 20.0
#: How long a rebuild asked while a scan runs (one a file-system event started, say) waits for the run it queues, which
#: sees its change, before it is answered 202 (queued); under REBUILD_WAIT, which a follower waits for the answer.
QUEUED_WAIT = 10.0
#: How long a stop waits at most for the build in progress to end (it ends at its next document).
STOP_WAIT = 4.0
#: With file-system events, one scheduled scan in this many lists the whole content folder (the safety net under the
#: events); the others look only at what events named. At 100,000 posts a listing costs ~0.5 s of CPU.
LIST_EVERY = 10
#: More of the builder's state for every worker's /healthz, by name (e.g. "publish": the bucket mirror's status).
StatusFields = dict[str, Callable[[], Any]]


class Role(Protocol):
    name: str

    def render_now(self, path: str, digest: str | None = None) -> Item | None: ...

    def rebuild(self, force: bool = False) -> RebuildAnswer: ...

    def stop(self, deadline: float | None = None) -> None: ...


@dataclass
class Follower:
    """Serves what the builder publishes; asks it for pages not rendered yet and for rescans."""

    #: The snapshot folder (the builder's socket is named after it) and what this worker serves.
    folder: Path
    served: Served
    name: str = "follower"

    def render_now(self, path: str, digest: str | None = None) -> Item | None:
        answer = wire.load(ask(self.folder, wire.dump(RenderRequest(path, digest)), PENDING_WAIT), RenderAnswer)
        return answer.item if answer else None

    def rebuild(self, force: bool = False) -> RebuildAnswer:
        answer = wire.load(ask(self.folder, wire.dump(RebuildRequest(force)), REBUILD_WAIT), RebuildAnswer)
        if answer is None:
            log.event("rebuild_request_timeout", logging.WARNING, seconds=REBUILD_WAIT)
            served = self.served.current
            return RebuildAnswer("unavailable", False, served.version if served else None, "the builder did not answer")
        self.served.wait_for(lambda m: m is not None and m.version == answer.version, timeout=5.0)
        return answer

    def stop(self, deadline: float | None = None) -> None:
        pass


@dataclass
class Leader:
    """This worker builds for the host: scans on a schedule, publishes, answers the followers."""

    config: Config
    builder: Builder
    #: The host's builder lock (held), to make the snapshot folder again with it if the folder is removed.
    lock: HostLock
    status_file: StatusFile
    status_fields: StatusFields = field(default_factory=dict)
    name: str = "builder"
    scheduler: BackgroundScheduler | None = None
    server: BuilderServer | None = None
    _rebuilds: Coalescer = field(init=False)
    _job_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopped: bool = field(default=False, init=False)
    _watch: Watch | None = field(default=None, init=False)
    _scheduled: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rebuilds = Coalescer(lambda force: self.builder.rescan(force))

    @property
    def folder(self) -> Path:
        return self.builder.store.folder

    def start(self, *, schedule: bool = True) -> None:
        """Answer the followers, and scan now and then every ``scan_interval`` (or only now, without ``schedule``)."""
        self.server = BuilderServer(self.folder, self.handle)  # first: it fails if another builder answers there still
        log.event("builder", pid=os.getpid())
        self.builder.activity.on_change = self.write_status  # every worker's /healthz says what the builder does
        self.write_status()
        if not schedule:
            return
        self.builder.after.pause = after.PAUSE  # a publish's work after it waits until the workers have the snapshot
        content = self.config.content_dir
        self._watch = watch(content) if isinstance(content, Path) and self.config.watch else None
        if self._watch is not None:
            self.builder.watching = True
            threading.Thread(target=self._follow_content, args=(self._watch,), name="feeds-content-events", daemon=True).start()
        self.scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
        self.scheduler.add_job(
            self.scheduled,
            "interval",
            seconds=self.config.scan_interval,
            id="rescan",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # a new builder scans at once, not one interval later
        )
        self.scheduler.start()

    def scheduled(self) -> None:
        """The scan job: rescan, then render older pages; an exception never stops the schedule."""
        self._scheduled += 1
        try:
            self.run(listing=self._scheduled % LIST_EVERY == 0)
        except Exception:
            logging.getLogger("feeds").exception("scheduled rescan failed")

    def _follow_content(self, events: Watch) -> None:
        """Scan what file-system events name as soon as they come (in this thread, one job at a time with the schedule)."""
        try:
            while not self._stopped:
                changes = events.wait()
                if self._stopped or events.closed:
                    break
                self.builder.touched.add(changes)
                try:
                    # Not behind a scheduled job (a cold build's older pages take minutes): the rescan runs between two
                    # of their chunks (a scan under way takes the change with it), the older pages after.
                    if self._rebuilds.request():
                        self.write_status()
                        threading.Thread(target=self.complete, name="feeds-complete", daemon=True).start()
                except Exception:
                    logging.getLogger("feeds").exception("rescan after a file-system event failed")
        finally:
            events.release()

    def run(self, force: bool = False, listing: bool = True) -> bool:
        """Rescan and complete the snapshot (one job at a time); return whether a new snapshot was published.

        ``listing``: list the whole content folder (else look only where file-system events pointed, when they do).
        """
        if listing:
            self.builder.touched.add(EVERYTHING)
        with self._job_lock:
            self.check_folder()
            changed = (self._rebuilds.request(force) and self._rebuilds.changed) if not self._stopped else False
            self.write_status()
            if not self._stopped:
                self.builder.complete()
                self.write_status()
            self.builder.pool.close()  # idle until the next build: no processes, no thread holding the exit
            return bool(changed)

    def complete(self) -> None:
        """Render the older pages (after a rescan asked for over HTTP), one job at a time with the schedule."""
        with self._job_lock:
            if not self._stopped:
                self.builder.complete()
                self.builder.pool.close()

    def render_now(self, path: str, digest: str | None = None) -> Item | None:
        return self.builder.render_now(path, digest)

    def rebuild(self, force: bool = False) -> RebuildAnswer:
        """Rescan now, in this thread, or queue one more rescan behind the one under way; say truthfully how it went."""
        before = self.builder.manifest
        self.builder.touched.add(EVERYTHING)  # asked for a scan: the folder is listed, whatever events said or not yet
        ran = not self._stopped and self._rebuilds.request(force, wait=QUEUED_WAIT)
        current = self.builder.manifest
        changed, version = current is not before, current.version if current else None
        if self._stopped or self.builder.activity.cancelled:
            return RebuildAnswer("stopping", changed, version, "the service is stopping; the next builder scans again")
        if not ran:
            return RebuildAnswer("queued", False, version)
        self.write_status()
        if self.builder.error is not None:  # the scan or the publish failed: the snapshot served is the one before
            return RebuildAnswer("failed", changed, version, self.builder.error)
        threading.Thread(target=self.complete, name="feeds-complete", daemon=True).start()
        return RebuildAnswer("done", changed, version)

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Answer a follower: render an older page now, or rescan now (None: not a request of this version)."""
        if (render := wire.load(request, RenderRequest)) is not None:
            return wire.dump(RenderAnswer(self.render_now(render.path, render.digest)))
        if (rebuild := wire.load(request, RebuildRequest)) is not None:
            return wire.dump(self.rebuild(rebuild.force))
        return None

    def watch(self) -> None:
        """Called at every poll: if the snapshot folder was removed, make it again and publish it all again at once."""
        if self.check_folder():  # at once, not at the next scan: the others serve from that folder
            threading.Thread(target=self.rebuild, name="feeds-republish", daemon=True).start()

    def check_folder(self) -> bool:
        """If the snapshot folder was deleted under us, recreate it (its lock too); return whether it was.

        The next scan then publishes everything again.
        """
        builder = self.builder
        if builder.manifest is None or not self.lock.lost():
            return False  # (a first publish in progress has nothing published to lose yet)
        folder = self.folder
        log.event("snapshot_lost", logging.ERROR, path=str(folder))
        try:
            # Made again with this worker's lock already in it, so no follower takes the new lock first.
            if not self.lock.recreate(0o700 if self.config.snapshot_dir is None else 0o755):
                # A worker started since the removal made the folder and took it: two build until one stops.
                log.event("builder_lock_lost", logging.ERROR, path=str(self.lock.path))
            prepare_dir(self.config)
            builder.store.create()
        except Exception as e:
            log.event("snapshot_lost", logging.ERROR, path=str(folder), error=str(e))
            return False
        builder.forget_disk("the snapshot folder was removed; publishing it again")
        return True

    def status(self, stopped: bool = False) -> BuilderStatus:
        """What this builder is doing, as the other workers read it from ``status.json``."""
        builder, activity = self.builder, self.builder.activity
        return BuilderStatus(
            pid=os.getpid(),
            activity="stopped" if stopped else activity.name,
            since=datetime.now(UTC) if stopped else activity.since,
            progress=activity.progress,
            last_scan=builder.last_scan,
            error=builder.error,
            version=builder.manifest.version if builder.manifest else None,
            extra={name: read() for name, read in self.status_fields.items()},
        )

    def write_status(self) -> None:
        """Tell the other workers' /healthz what this builder does and how its last scan went."""
        self.status_file.write(self.status())

    def stop(self, deadline: float | None = None) -> None:
        """Stop at once: the build in progress ends between two documents, the helpers now (until ``deadline`` at most).

        ``deadline`` is a ``time.monotonic()`` value. The next builder carries on from the saved state
        (what was published and saved before the stop). The status says the lock is handed on, so no
        follower takes it at once: if the whole service is stopping, the followers stop too meanwhile.
        """
        self._stopped = True
        deadline = deadline if deadline is not None else time.monotonic() + STOP_WAIT
        if self._watch is not None:
            self._watch.close()
        self.builder.cancel()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.server is not None:
            self.server.close()
        self.builder.wait_idle(deadline)
        if self._job_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            self._job_lock.release()
        self.status_file.write(self.status(stopped=True))
