"""The one runtime every process runs: serve the published snapshot, build it if this worker holds the lock.

Every worker — of gunicorn, granian, ``feeds serve`` or a test — keeps only
the current manifest in memory and answers bodies from the files it names, so
its memory does not grow with the number of posts. It follows ``current``
(a cheap ``readlink`` every ``POLL`` seconds) and tries the builder lock at
the same time, so a worker serves as soon as any snapshot is published and
takes over building when the builder goes. Nothing here waits for a build
before serving. What it builds with comes from ``feeds.service.compose``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.service.builder import Builder
from feeds.service.host import HostLock
from feeds.service.roles import Follower, Leader, Role, StatusFields
from feeds.service.served import POLL, Served
from feeds.service.status import StatusFile
from feeds.service.wire import BuilderStatus, RebuildAnswer
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.store import Store

#: Makes this host's builder when this worker takes the lock, starting from the manifest it serves.
BuilderFactory = Callable[[Manifest | None], Builder]


class Runtime:
    """A worker's view of its host: the served manifest, its role, the builder lock."""

    def __init__(
        self,
        config: Config,
        store: Store,
        make_builder: BuilderFactory,
        *,
        schedule: bool = True,
        status_fields: StatusFields | None = None,
    ) -> None:
        self.config = config
        self.served = Served(store)
        self.make_builder = make_builder
        #: Scan every ``scan_interval`` as the builder (False: only when asked, as ``feeds build`` and most tests do).
        self.schedule = schedule
        self.status_fields = status_fields if status_fields is not None else {}
        self.status_file = StatusFile(store.folder)
        #: What the builder last wrote to ``status.json`` (a follower's view of it).
        self.status: BuilderStatus | None = None
        self.pid = os.getpid()
        self.role: Role = Follower(store.folder, self.served)
        self._lock = HostLock(store.folder)
        self._role_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def store(self) -> Store:
        return self.served.store

    @property
    def folder(self) -> Path:
        return self.served.store.folder

    @property
    def current(self) -> Manifest | None:
        return self.served.current

    @property
    def served_since(self) -> datetime | None:
        return self.served.since

    @property
    def load_error(self) -> str | None:
        return self.served.load_error

    # -- start and stop ---------------------------------------------------------------

    def start(self, watch: bool = True) -> Runtime:
        """Serve what is published, become the builder if nobody is, and follow changes in a daemon thread."""
        self.served.follow()
        self._read_status()
        self.try_lead()
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="feeds-watch", daemon=True)
            self._watcher.start()
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Stop following and, as the builder, stop building by ``deadline`` and hand the lock on. Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.role.stop(deadline)
        self._lock.release()
        log.event("stop", version=self.version())

    def try_lead(self) -> bool:
        """Take the builder role if the lock is free."""
        with self._role_lock:
            if isinstance(self.role, Leader) or self._stop.is_set() or not self._lock.try_acquire():
                return isinstance(self.role, Leader)
            builder = self.make_builder(self.served.current)
            builder.listeners.insert(0, self.served.published)  # serve what it publishes at once, before any other listener
            leader = Leader(self.config, builder, self._lock, self.status_file, self.status_fields)
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
                self.served.follow()
                self._read_status()
                role = self.role
                if isinstance(role, Leader):
                    role.watch()
                else:
                    self.try_lead()
            except Exception:  # the watcher must outlive any surprise
                logging.getLogger("feeds").exception("snapshot watcher failed")

    def follow(self) -> None:
        """Serve the published manifest if it changed (a readlink; the manifest is read only on a change)."""
        self.served.follow()

    def wait_for(self, ready: Callable[[Manifest | None], bool], timeout: float) -> bool:
        """Wait until ``ready(current)`` holds (or ``timeout`` passes); return whether it does."""
        return self.served.wait_for(ready, timeout, poll=self._watcher is None)

    def follow_until(self, version: str, timeout: float) -> bool:
        return self.wait_for(lambda m: m is not None and m.version == version, timeout)

    def version(self) -> str | None:
        current = self.served.current
        return current.version if current else None

    # -- answering -----------------------------------------------------------------------

    def item(self, path: str) -> Item | None:
        """The item at ``path``, rendering a page not rendered yet (None: no such document, or the builder did not answer)."""
        manifest = self.served.current
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

    def rebuild(self, force: bool = False) -> RebuildAnswer:
        """Rescan now (in the builder, wherever it runs)."""
        return self.role.rebuild(force)

    # -- the builder's status, shared through the snapshot folder ------------------------

    def _read_status(self) -> None:
        if not isinstance(self.role, Leader):
            self.status = self.status_file.read(self.status)

    def builder_status(self) -> BuilderStatus:
        """The builder's last scan and error: this worker's own when it builds, else what the builder wrote."""
        role = self.role
        if isinstance(role, Leader):
            return role.status()
        return self.status or BuilderStatus()
