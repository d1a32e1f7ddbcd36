"""Rescan the content folder and swap in a new snapshot when anything changed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from feeds import log
from feeds.config import Config
from feeds.content.index import ContentIndex
from feeds.errors import ContentRootError
from feeds.snapshot import build as snapshot
from feeds.snapshot.build import Snapshot, SnapshotStore

#: Called after each swap with the old and the new snapshot (WebSub pings, metrics).
SwapListener = Callable[[Snapshot | None, Snapshot], None]


@dataclass
class Builder:
    """Owns the content index; one rebuild at a time, never a half-built swap."""

    config: Config
    store: SnapshotStore
    listeners: list[SwapListener] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _index: ContentIndex = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = ContentIndex(self.config)

    def rescan(self, force: bool = False) -> bool:
        """Scan now; rebuild and swap if content changed or a scheduled post is due.

        Returns whether a new snapshot was swapped in. Never raises for bad
        content or a vanished folder: the served snapshot stays as it is.
        """
        with self._lock:
            return self._rescan(force)

    def _rescan(self, force: bool) -> bool:
        started = time.perf_counter()
        now = self.clock()
        try:
            scan = self._index.scan()
        except ContentRootError as e:
            self.store.error = str(e)
            self.store.last_scan = now
            log.event("scan_failed", logging.ERROR, path=e.path, reason=e.message, serving=self._version())
            return False
        except Exception as e:  # a bug in scanning must not take the served feeds down either
            self.store.error = f"scan failed: {e!r}"
            self.store.last_scan = now
            log.event("scan_failed", logging.ERROR, error=repr(e), serving=self._version())
            logging.getLogger("feeds").exception("scan failed")
            return False
        current = self.store.current
        due = current is not None and current.next_change is not None and current.next_change <= now
        if current is not None and not (force or scan.changed or scan.removed or due or self.store.error):
            self.store.last_scan = now
            return False
        try:
            new = snapshot.build(scan, self.config, now, current)
        except Exception as e:  # a bug must not take the served feeds down
            self.store.error = f"rebuild failed: {e!r}"
            self.store.last_scan = now
            log.event("rebuild_failed", logging.ERROR, error=repr(e), serving=self._version())
            logging.getLogger("feeds").exception("rebuild failed")
            return False
        old = self.store.swap(new)
        self.store.error = None
        self.store.last_scan = now
        changed = snapshot.changed_keys(old, new)
        # Each problem is logged once, when it appears (or at start-up), not at every rebuild.
        known = set(old.problems) if old else set()
        for problem in new.problems:
            if problem not in known:
                log.event("content_problem", logging.WARNING, problem=str(problem))
        log.event(
            "rebuild",
            version=new.version,
            files_changed=len(scan.changed),
            files_removed=len(scan.removed),
            changed=_names(scan.changed + scan.removed),
            bodies_changed=len(changed),
            feeds_changed=len(set(changed).intersection(new.feed_keys())),
            posts=new.post_count,
            problems=len(new.problems),
            seconds=f"{time.perf_counter() - started:.3f}",
        )
        for listener in self.listeners:
            try:
                listener(old, new)
            except Exception:
                logging.getLogger("feeds").exception("swap listener failed")
        return True

    def _version(self) -> str:
        return self.store.current.version if self.store.current else "none"


def _names(files: tuple[str, ...], limit: int = 10) -> str:
    """Name the changed files in a log field, at most ``limit`` of them."""
    more = f",…(+{len(files) - limit})" if len(files) > limit else ""
    return ",".join(files[:limit]) + more
