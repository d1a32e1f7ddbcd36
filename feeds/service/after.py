"""The builder's work after a publish that no reader waits for, done once the workers have the new snapshot.

Saving the content index, pruning the snapshot folder and settling the heap take
tens of milliseconds at 10k posts (hundreds at 100k). Done at once, they hold
the builder's lock and share the two cores with the workers loading the snapshot
just published (and with this worker's own requests); a change written meanwhile
waited for them. Instead the builder marks them due and does them a moment later,
when nothing waits: a scan that comes first goes first, and its publish's work is
done with this one's (each step does what is due by then: the index saves what
changed since its last save, the prune removes what no snapshot names).

Without a pause (``feeds build``, the tests' builders) the work is done at once,
as the publish returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Seconds a Leader's builder leaves the cores to the workers after a publish before its own work after it.
PAUSE = 0.1


class AfterPublish:
    """What is due after the publishes so far (``clean``: one of them was complete, so the folder is pruned)."""

    def __init__(self, work: Callable[[bool], None], lock: threading.RLock, coming: threading.Event) -> None:
        #: Does the work (given whether a complete snapshot was published since the last time), under ``lock``.
        self._work = work
        self._lock = lock
        #: Set while a scan waits for the builder's lock: it goes first.
        self._coming = coming
        #: Seconds to wait after a publish (None: the work is done at once, in the publishing thread).
        self.pause: float | None = None
        self._due = False
        self._clean = False

    @property
    def due(self) -> bool:
        return self._due

    def published(self, clean: bool) -> None:
        """A publish happened (under the builder's lock): do its work at once, or mark it due for :meth:`run`."""
        self._due, self._clean = True, self._clean or clean
        if self.pause is None:
            self._run()

    def run(self, wait: bool = True) -> None:
        """Do the work that is due, after the pause (``wait``) unless a scan is coming (then after that scan)."""
        if not self._due:
            return
        if wait and self.pause and self._coming.wait(self.pause):
            return  # the scan goes first; its publish marks the work due again, and the next call does it all
        with self._lock:
            self._run()

    def _run(self) -> None:
        if not self._due:  # (done meanwhile by another thread)
            return
        clean, self._due, self._clean = self._clean, False, False
        self._work(clean)
