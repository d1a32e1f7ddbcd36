"""What the builder is doing, since when, whether it is getting anywhere, and whether it must stop.

The builder calls :meth:`Activity.doing` at each stage of a build and
:meth:`Activity.step` between two parts of its work (a few documents, a helper
process's share); ``on_change`` (the builder's status file) hears of every
change of stage and, during a long stage, of progress every HEARTBEAT seconds,
so /healthz on every worker can say "scanning since …" instead of guessing from
the last scan. A cancelled activity raises :class:`Cancelled` at the next step:
that is how a build stops between two documents.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from feeds.service.errors import Cancelled

#: During a long stage, ``on_change`` hears of progress at most this often (seconds).
HEARTBEAT = 5.0


class Activity:
    """The builder's stage: "starting", "idle", "scanning", "rendering", "publishing" or "completing"."""

    def __init__(self) -> None:
        self.name = "starting"
        self.since = datetime.now(UTC)
        #: When the builder last made progress (a stage began, a step was done).
        self.progress = self.since
        #: Called at every change of stage, and every HEARTBEAT while a stage makes progress.
        self.on_change: Callable[[], None] | None = None
        self._told = 0.0
        self._cancelled = threading.Event()

    @property
    def busy(self) -> bool:
        return self.name not in ("starting", "idle")

    def doing(self, name: str) -> None:
        """Enter stage ``name`` (nothing happens if the builder is in it already)."""
        if name != self.name:
            self.name, self.since = name, datetime.now(UTC)
            self.progress = self.since
            self._tell()

    def step(self) -> None:
        """Between two parts of the work: raise Cancelled if the build must stop, else count it as progress."""
        if self._cancelled.is_set():
            raise Cancelled()
        self.progress = datetime.now(UTC)
        if time.monotonic() - self._told > HEARTBEAT:
            self._tell()

    def cancel(self) -> None:
        """Make the next :meth:`step` raise Cancelled, and every one after it."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _tell(self) -> None:
        self._told = time.monotonic()
        if self.on_change is not None:
            self.on_change()
