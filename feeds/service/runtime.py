"""The one runtime every process runs: serve the published snapshot, build it if this worker holds the lock.

Every worker — of gunicorn, granian, ``feeds serve`` or a test — keeps only
the current manifest in memory and answers bodies from the files it names, so
its memory does not grow with the number of posts. It follows ``current``
(a cheap ``readlink`` every ``POLL`` seconds) and tries the builder lock at
the same time, so a worker serves as soon as any snapshot is published and
takes over building when the builder goes. Nothing here waits for a build
before serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.fsutil import atomic_write
from feeds.render.store import RenderStore
from feeds.service.builder import Builder, Listener
from feeds.service.folders import prepare_dir
from feeds.service.host import HostLock
from feeds.service.pool import Pool
from feeds.service.roles import Follower, Leader, Role
from feeds.service.sources import Sync, content_source
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.store import SnapshotError, Store

#: Seconds between a worker's looks at ``current`` (and at the builder lock).
POLL = 0.05
STATUS = "status.json"


@dataclass
class Status:
    """What the builder last reported (read from ``status.json`` by the other workers)."""

    builder_pid: int | None = None
    last_scan: datetime | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """A worker's view of its host: the served manifest, its role, the builder lock."""

    config: Config
    #: Builds only when asked (``feeds build``) instead of on a schedule.
    schedule: bool = True
    #: Where posts are read from (tests pass their own; by default the content folder or git remote).
    source: Sync | None = None
    listeners: list[Listener] = field(default_factory=list)
    #: More of the builder's state for every worker's /healthz (e.g. "publish": the bucket mirror's status).
    status_fields: dict[str, Callable[[], Any]] = field(default_factory=dict)
    folder: Path = field(init=False)
    store: Store = field(init=False)
    current: Manifest | None = field(default=None, init=False)
    role: Role = field(init=False)
    status: Status = field(default_factory=Status, init=False)
    #: When this worker began serving its current manifest, and a published one it could not load (and why).
    served_since: datetime | None = field(default=None, init=False)
    load_error: str | None = field(default=None, init=False)
    pid: int = field(default_factory=os.getpid, init=False)
    _name: str | None = field(default=None, init=False)
    _failed_name: str | None = field(default=None, init=False)
    _status_stamp: tuple[int, int] | None = field(default=None, init=False)
    _status_failure: str | None = field(default=None, init=False)
    _lock: HostLock = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _swapped: threading.Condition = field(default_factory=threading.Condition, init=False)
    _watcher: threading.Thread | None = field(default=None, init=False)
    _role_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.folder = prepare_dir(self.config)
        self.store = Store(self.folder)
        self.store.create()
        self._lock = HostLock(self.folder)
        self.role = Follower(self)

    # -- start and stop ---------------------------------------------------------------

    def start(self, watch: bool = True) -> Runtime:
        """Serve what is published, become the builder if nobody is, and follow changes in a daemon thread."""
        self.follow()
        self._read_status()
        self.try_lead()
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="feeds-watch", daemon=True)
            self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop following and, as the builder, let a build in progress finish and hand the lock on. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.role.stop()
        self._lock.release()
        log.event("stop", version=self.version())

    def try_lead(self) -> bool:
        """Take the builder role if the lock is free."""
        with self._role_lock:
            if isinstance(self.role, Leader) or self._stop.is_set() or not self._lock.try_acquire():
                return isinstance(self.role, Leader)
            builder = Builder(
                self.config,
                self.store,
                RenderStore(self.config.cache_dir or self.folder / "render"),
                Pool(),
                self.folder / "state",
                self.source or content_source(self.config, self.folder / "git"),
                manifest=self.current,
            )
            builder.listeners.append(self._published)
            builder.listeners.extend(self.listeners)
            leader = Leader(self, builder)
            self.role = leader
        leader.start(schedule=self.schedule)
        return True

    def builder_run(self, force: bool = False) -> bool:
        """As the builder: rescan and complete the snapshot now, in this thread; return whether anything was published."""
        role = self.role
        return role.run(force) if isinstance(role, Leader) else False

    @property
    def builder(self) -> Builder | None:
        return self.role.builder if isinstance(self.role, Leader) else None

    # -- following the published snapshot ------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(POLL):
            try:
                self.follow()
                self._read_status()
                if not isinstance(self.role, Leader):
                    self.try_lead()
                elif self.check_store():  # at once, not at the next scan: the others serve from that folder
                    threading.Thread(target=self.rebuild, name="feeds-republish", daemon=True).start()
            except Exception:  # the watcher must outlive any surprise
                logging.getLogger("feeds").exception("snapshot watcher failed")

    def follow(self) -> None:
        """Serve the published manifest if it changed (a readlink; the manifest is read only on a change)."""
        name = self.store.current_name()
        if name is None or name == self._name or name == self._failed_name:
            return
        started = time.perf_counter()
        try:
            manifest = self.store.load(name)
        except SnapshotError as e:
            if self.store.current_name() == name:  # not merely pruned under us: say so once
                self._failed_name, self.load_error = name, str(e)
                log.event("load_failed", logging.ERROR, folder=name, error=str(e))
            return
        if self._swap(manifest, name):
            log.event("load", version=manifest.version, seq=manifest.seq, seconds=f"{time.perf_counter() - started:.3f}")

    def _published(self, old: Manifest | None, new: Manifest) -> None:
        """Builder listener: serve what this worker just published, without waiting for the watcher."""
        self._swap(new, new.name())

    def _swap(self, manifest: Manifest, name: str) -> bool:
        """Serve ``manifest`` (published as ``name``); False when it is what is served already, under an older number."""
        with self._swapped:
            if self.current is not None and self.current.seq > manifest.seq and self.current.version == manifest.version:
                # Remember the name all the same (a folder published again starts at 1): else it is read again at every poll.
                self._name = name
                return False
            self.current, self._name = manifest, name
            self._failed_name = self.load_error = None
            self.served_since = datetime.now(UTC)
            self._swapped.notify_all()
            return True

    def wait_for(self, ready: Callable[[Manifest | None], bool], timeout: float) -> bool:
        """Wait until ``ready(current)`` holds (or ``timeout`` passes); return whether it does."""
        deadline = time.monotonic() + timeout
        while not ready(self.current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._swapped:
                self._swapped.wait(min(remaining, POLL))
            if self._watcher is None:  # nobody follows for us
                self.follow()
        return True

    def follow_until(self, version: str, timeout: float) -> bool:
        return self.wait_for(lambda m: m is not None and m.version == version, timeout)

    def version(self) -> str | None:
        return self.current.version if self.current else None

    # -- answering -----------------------------------------------------------------------

    def item(self, path: str) -> Item | None:
        """The item at ``path``, rendering a page not rendered yet (None: no such document, or the builder did not answer)."""
        manifest = self.current
        if manifest is None:
            return None
        item = manifest.items.get(path)
        if item is not None:
            return item
        waiting = manifest.pending.get(path)
        if waiting is not None:
            return self.role.render_now(path, waiting.digest)
        return None

    def open(self, item: Item, gzip: bool) -> Any:
        """Open the body of ``item`` for sending; an object that went missing is rendered again by the builder."""
        try:
            return open(self.store.object_path(item.etag, gzip), "rb")  # noqa: SIM115 - the WSGI server closes it
        except FileNotFoundError:
            again = self.role.render_now(item.path, item.digest)
            if again is None:
                raise
            return open(self.store.object_path(again.etag, gzip), "rb")  # noqa: SIM115

    def rebuild(self, force: bool = False) -> dict[str, Any]:
        """Rescan now (in the builder, wherever it runs)."""
        return self.role.rebuild(force)

    # -- the builder's status, shared through the snapshot folder ------------------------

    def check_store(self) -> bool:
        """As the builder: if the snapshot folder was deleted under us, recreate it (its lock too); return whether it was.

        The next scan then publishes everything again.
        """
        builder = self.builder
        if builder is None or builder.manifest is None or not self._lock.lost():
            return False  # (not `current` missing: a first publish in progress has no `current` yet)
        log.event("snapshot_lost", logging.ERROR, path=str(self.folder))
        try:
            # Made again with this worker's lock already in it, so no follower takes the new lock first.
            if not self._lock.recreate(0o700 if self.config.snapshot_dir is None else 0o755):
                # A worker started since the removal made the folder and took it: two build until one stops.
                log.event("builder_lock_lost", logging.ERROR, path=str(self._lock.path))
            self.folder = prepare_dir(self.config)
            self.store.create()
        except Exception as e:
            log.event("snapshot_lost", logging.ERROR, path=str(self.folder), error=str(e))
            return False
        builder.forget_disk("the snapshot folder was removed; publishing it again")
        return True

    def write_status(self, started: float) -> None:
        """As the builder: record the last scan for the other workers' /healthz."""
        builder = self.builder
        if builder is None:
            return
        status = {
            "pid": self.pid,
            "scan_started": started,
            "last_scan": builder.last_scan.isoformat() if builder.last_scan else None,
            "error": builder.error,
            "version": builder.manifest.version if builder.manifest else None,
            **{name: read() for name, read in self.status_fields.items()},
        }
        path, data = self.folder / STATUS, (json.dumps(status) + "\n").encode()
        try:
            atomic_write(path, data, durable=False)
        except OSError:
            # The old status would tell the other workers that all is well: remove it (which also
            # frees the room a full disk lacks for the new one) and try once more.
            with contextlib.suppress(OSError):
                path.unlink()
            try:
                atomic_write(path, data, durable=False)
            except OSError as e:  # the others then report the status as missing (or stale) on /healthz
                cause = e.strerror or str(e)
                if cause != self._status_failure:  # once per cause, not at every scan
                    log.event("status_failed", logging.ERROR, path=str(path), error=cause)
                self._status_failure = cause
                return
        self._status_failure = None

    def _read_status(self) -> None:
        if isinstance(self.role, Leader):
            return
        path = self.folder / STATUS
        try:
            info = os.stat(path)
            stamp = (info.st_ino, info.st_mtime_ns)
            if stamp == self._status_stamp:
                return
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            if self.current is not None and self._status_stamp is not None:  # the builder removed it: it cannot write here
                error = f"the builder cannot write its status to {path} (see its log)"
                self.status = Status(self.status.builder_pid, self.status.last_scan, error, self.status.extra)
                self._status_stamp = None
            return
        except (OSError, ValueError):
            return
        self._status_stamp = stamp
        last = data.get("last_scan")
        self.status = Status(data.get("pid"), datetime.fromisoformat(last) if last else None, data.get("error"), data)

    def builder_status(self) -> Status:
        """The builder's last scan and error: this worker's own when it builds, else what the builder wrote."""
        builder = self.builder
        if builder is not None:
            return Status(self.pid, builder.last_scan, builder.error, {name: read() for name, read in self.status_fields.items()})
        return self.status
