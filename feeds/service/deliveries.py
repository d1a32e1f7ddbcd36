"""Webhook deliveries this host has acted on, so that a replayed one is answered without a rescan.

No provider signs a timestamp, so a captured push webhook stays valid for ever.
Each delivery is remembered for ``DELIVERY_WINDOW`` by its delivery id and by
the digest of its signed body (headers are not signed: a replay may carry
another id, never another body), as one empty file per key in a folder that
every worker of the host shares: creating a file with ``O_EXCL`` is atomic
across processes, so a replay that reaches another worker, or two copies that
arrive at once, are still told apart. At most ``MAX_DELIVERIES`` files are kept
(the expired ones first, then the oldest); nothing is held in memory.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from feeds.limits import DELIVERY_WINDOW, MAX_DELIVERIES

#: The folder inside the state folder.
NAME = "deliveries"


class Deliveries:
    """The deliveries seen in the last ``window`` seconds, as files in ``folder`` (shared by the host's workers)."""

    def __init__(
        self, folder: Path, window: float = DELIVERY_WINDOW, limit: int = MAX_DELIVERIES, clock: Callable[[], float] = time.time
    ) -> None:
        self.folder, self.window, self.limit, self.clock = folder, window, limit, clock

    def claim(self, keys: Iterable[str]) -> bool:
        """Remember a delivery by its ``keys``; False when any of them was seen within the window (a replay)."""
        paths = [self._path(key) for key in keys]
        made: list[Path] = []
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for path in paths:
                if not self._create(path):
                    for own in made:
                        own.unlink(missing_ok=True)
                    return False
                made.append(path)
        except OSError:
            return True  # cannot remember (a read-only or full disk): act on it, as without this guard
        self._prune()
        return True

    def release(self, keys: Iterable[str]) -> None:
        """Forget a delivery that was not acted on (its rescan failed), so that a redelivery is."""
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def _create(self, path: Path) -> bool:
        """Create ``path``; False if it exists and is younger than the window (an older one is renewed)."""
        now = self.clock()
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            if now - path.stat().st_mtime < self.window:
                return False
        os.utime(path, (now, now))  # when it was seen, by this clock
        return True

    def _prune(self) -> None:
        """Keep at most ``limit`` files: the expired ones go first, then the oldest."""
        try:
            entries = list(os.scandir(self.folder))
            if len(entries) <= self.limit:
                return
            now = self.clock()
            ages = sorted((entry.stat().st_mtime, entry.path) for entry in entries)
            expired = [path for mtime, path in ages if now - mtime >= self.window]
            oldest = [path for _, path in ages[: len(ages) - self.limit]]
            for path in {*expired, *oldest}:
                os.unlink(path)
        except OSError:  # another worker pruned at the same time: it is done either way
            return

    def _path(self, key: str) -> Path:
        return self.folder / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40]
