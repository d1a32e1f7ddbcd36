"""A worker's role on its host: the builder (it holds the lock) or a follower (it asks the builder).

``feeds serve`` and the tests run one process, which is simply the builder of
its host; under gunicorn or granian one worker is the builder and the others
follow. A follower takes over when the builder's lock comes free.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from feeds import log
from feeds.service.builder import Builder
from feeds.service.coalesce import Coalescer
from feeds.service.host import BuilderServer, ask
from feeds.snapshot.manifest import Item

if TYPE_CHECKING:
    from feeds.service.runtime import Runtime

#: How long a request for an older page not rendered yet waits for the builder (seconds).
PENDING_WAIT = 0.9
#: How long a POST /-/rebuild answered by a follower waits for the builder's scan.
REBUILD_WAIT = 20.0


class Role(Protocol):
    name: str

    def render_now(self, path: str, digest: str | None = None) -> Item | None: ...

    def rebuild(self, force: bool = False) -> dict[str, Any]: ...

    def stop(self) -> None: ...


@dataclass
class Follower:
    """Serves what the builder publishes; asks it for pages not rendered yet and for rescans."""

    runtime: Runtime
    name: str = "follower"

    def render_now(self, path: str, digest: str | None = None) -> Item | None:
        answer = ask(self.runtime.folder, {"op": "render", "path": path, "digest": digest}, PENDING_WAIT)
        row = answer.get("item") if answer else None
        return Item(*row) if isinstance(row, list) and len(row) == 7 else None

    def rebuild(self, force: bool = False) -> dict[str, Any]:
        answer = ask(self.runtime.folder, {"op": "rebuild", "force": force}, REBUILD_WAIT)
        if answer is None or "version" not in answer:
            log.event("rebuild_request_timeout", logging.WARNING, seconds=REBUILD_WAIT)
            return {"status": "unavailable", "changed": False, "version": self.runtime.version()}
        self.runtime.follow_until(answer["version"], timeout=5.0)
        return answer

    def stop(self) -> None:
        pass


@dataclass
class Leader:
    """This worker builds for the host: scans on a schedule, publishes, answers the followers."""

    runtime: Runtime
    builder: Builder
    name: str = "builder"
    scheduler: BackgroundScheduler | None = None
    server: BuilderServer | None = None
    _rebuilds: Coalescer = field(init=False)
    _job_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._rebuilds = Coalescer(lambda force: self.builder.rescan(force))

    def start(self, *, schedule: bool = True) -> None:
        """Answer the followers, and scan now and then every ``scan_interval`` (or only now, without ``schedule``)."""
        log.event("builder", pid=self.runtime.pid)
        self.server = BuilderServer(self.runtime.folder, self.handle)
        if not schedule:
            return
        self.scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
        self.scheduler.add_job(
            self.scheduled,
            "interval",
            seconds=self.runtime.config.scan_interval,
            id="rescan",
            max_instances=1,
            coalesce=True,
            replace_existing=True,
            next_run_time=datetime.now(UTC),  # a new builder scans at once, not one interval later
        )
        self.scheduler.start()

    def scheduled(self) -> None:
        """The scan job: rescan, then render older pages; an exception never stops the schedule."""
        try:
            self.run()
        except Exception:
            logging.getLogger("feeds").exception("scheduled rescan failed")

    def run(self, force: bool = False) -> bool:
        """Rescan and complete the snapshot (one job at a time); return whether a new snapshot was published."""
        with self._job_lock:
            started = time.time()
            self.runtime.check_store()
            changed = (self._rebuilds.request(force) and self._rebuilds.changed) if not self._stopped else False
            self.runtime.write_status(started)
            if not self._stopped:
                self.builder.complete()
                self.runtime.write_status(started)
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

    def rebuild(self, force: bool = False) -> dict[str, Any]:
        before = self.builder.manifest
        ran = self._rebuilds.request(force)
        if ran:
            self.runtime.write_status(time.time())
            threading.Thread(target=self.complete, name="feeds-complete", daemon=True).start()
        current = self.builder.manifest
        return {"status": "done" if ran else "queued", "changed": current is not before, "version": current.version if current else None}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer a follower: render an older page now, or rescan now."""
        if request.get("op") == "render":
            digest = request.get("digest")
            item = self.render_now(str(request.get("path")), digest if isinstance(digest, str) else None)
            return {"item": list(dataclasses.astuple(item)) if item else None}
        if request.get("op") == "rebuild":
            return self.rebuild(bool(request.get("force")))
        return {"error": "unknown request"}

    def stop(self, wait: float = 10.0) -> None:
        """Stop scanning; let a build in progress finish (up to ``wait`` seconds) so no publish is cut short."""
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.server is not None:
            self.server.close()
        if self._job_lock.acquire(timeout=wait):
            self._job_lock.release()
        self.builder.pool.close()


Factory = Callable[[], Leader]
