"""The snapshot a worker serves: the current manifest in memory, followed with a ``readlink`` of ``current``.

Every worker keeps only the manifest it serves; the bodies stay in the
snapshot folder's files. A new manifest is read only when ``current`` names
another file, so following costs one ``readlink`` per poll. A worker holds the
manifest it serves (``Store.hold``), and the previous one for HOLD_AFTER more,
so the builder's prune never removes a body a request of this worker may open.
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
from feeds.snapshot.store import Held, Store

#: Seconds between a worker's looks at ``current`` (and at the builder lock).
POLL = 0.05
#: Seconds a worker keeps holding the manifest it served before a swap: a request that read it just
#: before may still be opening one of its bodies, which the builder's prune must not remove yet.
HOLD_AFTER = 1.0


class Served:
    """The manifest this worker serves (held, so the builder keeps its bodies), and a published one it could not load."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.current: Manifest | None = None
        #: When this worker began serving ``current``.
        self.since: datetime | None = None
        self.load_error: str | None = None
        self._name: str | None = None
        self._failed_name: str | None = None
        self._held: Held | None = None
        #: Manifests served before, still held until a moment after the swap (see HOLD_AFTER).
        self._retiring: list[tuple[float, Held]] = []
        self._swapped = threading.Condition()

    @property
    def name(self) -> str | None:
        """The file name of the manifest served (``current`` pointed at it when it was read)."""
        return self._name

    def follow(self) -> bool:
        """Serve the published manifest if it changed (a readlink; the manifest is read only on a change); return whether it did."""
        if self._retiring:
            self._retire()
        name = self.store.current_name()
        if name is None or name == self._name or name == self._failed_name:
            return False
        started = time.perf_counter()
        held = self.store.hold(name)  # before reading it: from now on the builder keeps what it names
        try:
            manifest = self.store.load(name, self.current)  # a change against the served one: only the change is read
        except SnapshotError as e:
            if held is not None:
                held.release()
            if self.store.current_name() == name:  # not merely pruned under us: say so once
                self._failed_name, self.load_error = name, str(e)
                log.event("load_failed", logging.ERROR, folder=name, error=str(e))
            return False
        if not self.swap(manifest, name, held):
            return False
        log.event("load", version=manifest.version, seq=manifest.seq, seconds=f"{time.perf_counter() - started:.3f}")
        return True

    def published(self, old: Manifest | None, new: Manifest) -> None:
        """Builder listener: serve what this worker just published, without waiting for the next poll."""
        self.swap(new, new.name())

    def swap(self, manifest: Manifest, name: str, held: Held | None = None) -> bool:
        """Serve ``manifest`` (published as ``name``); False when it is what is served already, under an older number."""
        held = held or self.store.hold(name)
        with self._swapped:
            released, self._held = self._held, held  # the new one is held before the old one is let go
            if self.current is not None and self.current.seq > manifest.seq and self.current.version == manifest.version:
                # Remember the name all the same (a folder published again starts at 1): else it is read again at every poll.
                self._name = name
                changed = False
            else:
                self.current, self._name = manifest, name
                self._failed_name = self.load_error = None
                self.since = datetime.now(UTC)
                self._swapped.notify_all()
                changed = True
        if released is not None and released is not held:
            with self._swapped:
                self._retiring.append((time.monotonic() + HOLD_AFTER, released))
        return changed

    def _retire(self) -> None:
        """Let go of the manifests served before the current one once no request can still be opening their bodies."""
        now = time.monotonic()
        with self._swapped:
            done = [held for until, held in self._retiring if until <= now]
            self._retiring = [(until, held) for until, held in self._retiring if until > now]
        for held in done:
            held.release()

    def release(self) -> None:
        """Let the builder prune every manifest this worker held (it stops serving)."""
        with self._swapped:
            holds = [self._held, *(held for _, held in self._retiring)]
            self._held, self._retiring = None, []
        for held in holds:
            if held is not None:
                held.release()

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
