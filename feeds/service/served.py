"""The snapshot a worker serves: the current manifest in memory, followed with a ``readlink`` of ``current``.

Every worker keeps only the manifest it serves; the bodies stay in the
snapshot folder's files. A new manifest is read only when ``current`` names
another file, so following costs one ``readlink`` per poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from feeds import log
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.manifest import Manifest
from feeds.snapshot.store import Store

#: Seconds between a worker's looks at ``current`` (and at the builder lock).
POLL = 0.05


class Served:
    """The manifest this worker serves, and a published one it could not load (and why)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.current: Manifest | None = None
        #: When this worker began serving ``current``.
        self.since: datetime | None = None
        self.load_error: str | None = None
        self._name: str | None = None
        self._failed_name: str | None = None
        self._swapped = threading.Condition()

    def follow(self) -> bool:
        """Serve the published manifest if it changed (a readlink; the manifest is read only on a change); return whether it did."""
        name = self.store.current_name()
        if name is None or name == self._name or name == self._failed_name:
            return False
        started = time.perf_counter()
        try:
            manifest = self.store.load(name)
        except SnapshotError as e:
            if self.store.current_name() == name:  # not merely pruned under us: say so once
                self._failed_name, self.load_error = name, str(e)
                log.event("load_failed", logging.ERROR, folder=name, error=str(e))
            return False
        if not self.swap(manifest, name):
            return False
        log.event("load", version=manifest.version, seq=manifest.seq, seconds=f"{time.perf_counter() - started:.3f}")
        return True

    def published(self, old: Manifest | None, new: Manifest) -> None:
        """Builder listener: serve what this worker just published, without waiting for the next poll."""
        self.swap(new, new.name())

    def swap(self, manifest: Manifest, name: str) -> bool:
        """Serve ``manifest`` (published as ``name``); False when it is what is served already, under an older number."""
        with self._swapped:
            if self.current is not None and self.current.seq > manifest.seq and self.current.version == manifest.version:
                # Remember the name all the same (a folder published again starts at 1): else it is read again at every poll.
                self._name = name
                return False
            self.current, self._name = manifest, name
            self._failed_name = self.load_error = None
            self.since = datetime.now(UTC)
            self._swapped.notify_all()
            return True

    def forget(self) -> None:
        """Serve nothing until the next :meth:`follow` (a worker that has not looked at ``current`` yet)."""
        with self._swapped:
            self.current = self._name = None

    def wait_for(self, ready: Callable[[Manifest | None], bool], timeout: float, poll: bool = False) -> bool:
        """Wait until ``ready(current)`` holds (or ``timeout`` passes); with ``poll``, follow ``current`` meanwhile."""
        deadline = time.monotonic() + timeout
        while not ready(self.current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._swapped:
                self._swapped.wait(min(remaining, POLL))
            if poll:  # nobody follows for us
                self.follow()
        return True
