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
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from feeds import log
from feeds.config import Config
from feeds.errors import FeedsError
from feeds.service.builder import Builder
from feeds.service.errors import Unavailable
from feeds.service.host import HostLock, answering
from feeds.service.roles import Follower, Leader, Role, StatusFields
from feeds.service.served import POLL, Served
from feeds.service.status import StatusFile
from feeds.service.watch import Signals, signals
from feeds.service.wire import BuilderStatus, RebuildAnswer
from feeds.snapshot.manifest import Item, Manifest
from feeds.snapshot.store import Store

#: Makes this host's builder when this worker takes the lock, starting from the manifest it serves.
BuilderFactory = Callable[[Manifest | None], Builder]
#: Seconds between a worker's looks at the snapshot folder when inotify wakes it at every change there.
IDLE_POLL = 0.5
#: How long a request waits for a body that went missing (a removed snapshot folder, published again).
REAPPEAR_WAIT = 1.0
#: How long a worker that found the lock free waits for an answer from a builder still alive (its folder removed).
ANSWER_WAIT = 0.5
#: How long after a builder handed the lock on (a clean stop) a following worker waits before taking it.
HANDOFF_PAUSE = timedelta(seconds=0.5)


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
        self._stopping = threading.Lock()
        self._stopped = False
        self._watcher: threading.Thread | None = None
        self._signals: Signals | None = None

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
        """Stop following and taking the lock; as the builder, stop building by ``deadline`` and hand the lock on.

        Safe to call twice and from two threads (a stop signal, the exit hooks): the second waits for the first.
        """
        self._stop.set()  # first of all: from now on this worker never takes the builder lock
        if self._signals is not None:
            self._signals.close()
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            with self._role_lock:  # a take-over under way ends first (and is stopped with the rest); none starts after
                role = self.role
            role.stop(deadline)
            self.served.release()
            self._lock.release()
            log.event("stop", version=self.version())

    def try_lead(self, following: bool = False) -> bool:
        """Take the builder role if the lock is free; ``following`` (the watcher), not if its holder handed it on a moment ago."""
        with self._role_lock:
            if isinstance(self.role, Leader) or self._stop.is_set() or not self._lock.try_acquire():
                return isinstance(self.role, Leader)
            if following and self._handed_on_just_now():
                # A builder that stopped cleanly: when the whole service stops, this worker is told to stop
                # too within moments, and must not start a fresh scan meanwhile. Otherwise it leads shortly.
                self._lock.release()
                return False
            if answering(self.folder, ANSWER_WAIT):
                # A free lock, but a live builder: its folder was removed and is being made again (a lock file
                # in a folder something else made first is not the builder's). It keeps building; two would race.
                self._lock.release()
                return False
            builder = self.make_builder(self.served.current)
            builder.listeners.insert(0, self.served.published)  # serve what it publishes at once, before any other listener
            leader = Leader(self.config, builder, self._lock, self.status_file, self.status_fields)
            self.role = leader
            try:
                leader.start(schedule=self.schedule)
            except BaseException:  # (its socket taken, say): a follower again, the lock let go
                builder.cancel()
                self.role = Follower(self.folder, self.served)
                self._lock.release()
                raise
        return True

    def _handed_on_just_now(self) -> bool:
        last = self.status_file.load()
        return last is not None and last.activity == "stopped" and last.since is not None and datetime.now(UTC) - last.since < HANDOFF_PAUSE

    def builder_run(self, force: bool = False) -> bool:
        """As the builder: rescan and complete the snapshot now, in this thread; return whether anything was published."""
        role = self.role
        return role.run(force) if isinstance(role, Leader) else False

    @property
    def builder(self) -> Builder | None:
        return self.role.builder if isinstance(self.role, Leader) else None

    # -- following the published snapshot ------------------------------------------------

    def _watch(self) -> None:
        # Woken by inotify when the builder swaps ``current``, writes its status or lets go of the lock (a builder that
        # ends closes it); then looking every IDLE_POLL is enough (an idle worker costs next to nothing). Else every POLL.
        woken: Signals | None = None
        try:
            while not self._stop.is_set():
                if woken is None or woken.lost:
                    if woken is not None:
                        woken.release()
                    woken = self._signals = signals(self.folder)
                if woken is None:
                    self._stop.wait(POLL)
                else:
                    woken.wait(IDLE_POLL)
                if self._stop.is_set():
                    break
                self._look()
        finally:
            if woken is not None:
                woken.release()

    def _look(self) -> None:
        """Serve what is published, read the builder's status, lead or watch the folder as the builder (one look)."""
        try:
            role = self.role
            if not (isinstance(role, Leader) and role.builder.activity.name == "publishing"):
                # (woken by its own builder's swap: the builder hands this worker the manifest it publishes, read from
                # no file, as soon as the swap is done; reading it here too would hold up the publish for nothing)
                self.served.follow()
            self._read_status()
            if isinstance(role, Leader):
                role.watch()
            else:
                self.try_lead(following=True)
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
            return self._render_now(path, waiting.digest)
        return None

    def open(self, item: Item, gzip: bool) -> BinaryIO:
        """Open the body of ``item`` for sending; Unavailable (a 503 with Retry-After) if it stays missing.

        A body goes missing when the snapshot folder is removed: the builder, which writes it again
        if it is one of its own snapshot's, makes the folder again at once and publishes the same
        bytes under the same names within a second, so a request waits up to REAPPEAR_WAIT for it.
        A file already open stays readable whatever happens to the folder.
        """
        path = self.store.object_path(item.etag, gzip)
        deadline = time.monotonic() + REAPPEAR_WAIT
        asked = False
        while True:
            try:
                return open(path, "rb")  # noqa: SIM115 - the WSGI server closes it
            except FileNotFoundError:
                pass
            if not asked:
                asked = True
                if self._render_now(item.path, item.digest) is not None:
                    continue  # written again by the builder
            if time.monotonic() >= deadline or self._stop.is_set():
                raise Unavailable(item.path)
            time.sleep(POLL)

    def _render_now(self, path: str, digest: str) -> Item | None:
        try:
            return self.role.render_now(path, digest)
        except (FeedsError, OSError):  # the builder's folder went away under it: no answer, as from a busy builder
            return None

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
