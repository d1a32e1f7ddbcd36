"""Pruning again a moment after a publish, until no worker serves an older manifest.

Right after a publish, the other workers still serve the previous manifest
(they swap within ``POLL``) and hold it for ``HOLD_AFTER`` more: the builder's
prune then keeps it. This thread prunes again once they have let go, so the
objects only older manifests named leave the disk about a second after the swap,
and tries again a few times, further apart, for a worker that is slow to let go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from feeds.service.served import HOLD_AFTER, POLL
from feeds.snapshot.manifest import Manifest

#: The first retry, when the other workers have swapped and let go of the previous manifest.
FIRST_RETRY = HOLD_AFTER + 4 * POLL
#: Retries after a publish, each twice as far as the one before (about 2.5 minutes in all).
TRIES = 7
#: One prune in this many looks at every body of the snapshot folder and every rendering (the others at what publishes dropped).
SWEEP_EVERY = 16


class Dropped:
    """The bodies the publishes since the last prune no longer name, so a prune looks at those, not at every file."""

    def __init__(self) -> None:
        #: Their ETags (None: unknown, the next prune looks at every body).
        self.etags: set[str] | None = None
        self.prunes = 0

    def published(self, old: Manifest | None, new: Manifest) -> None:
        """``new`` was published over ``old``: remember the bodies it no longer names (from what it says it changed)."""
        changes = new.changes
        if old is None or changes is None or self.etags is None:
            self.etags = None
            return
        for path in changes.items | changes.removed:
            if (was := old.items.get(path)) is not None and ((now := new.items.get(path)) is None or now.etag != was.etag):
                self.etags.add(was.etag)

    def next(self) -> set[str] | None:
        """What the next prune looks at: the dropped bodies, or (None) every body, one time in SWEEP_EVERY."""
        self.prunes += 1
        return None if self.etags is None or self.sweeping() else set(self.etags)

    def sweeping(self) -> bool:
        """Whether the last prune looked at everything (the renderings are pruned then too): the first, then one in SWEEP_EVERY."""
        return (self.prunes - 1) % SWEEP_EVERY == 0

    def pruned(self, only: set[str] | None) -> None:
        """A prune removed what it looked at."""
        if only is None:
            self.etags = set()
        elif self.etags is not None:
            self.etags -= only


class Pruner:
    """Calls ``prune`` (which returns whether every older manifest is gone) again after a publish, in a daemon thread."""

    def __init__(self, prune: Callable[[], bool]) -> None:
        self._prune = prune
        self._due: float | None = None
        self._delay = FIRST_RETRY
        self._stopped = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self) -> None:
        """Prune again FIRST_RETRY from now (a publish kept an older manifest that a worker still serves)."""
        with self._cond:
            if self._stopped:
                return
            self._delay = FIRST_RETRY
            self._due = time.monotonic() + self._delay
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="feeds-prune", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (self._due is None or self._due > time.monotonic()):
                    self._cond.wait(None if self._due is None else self._due - time.monotonic())
                if self._stopped:
                    return
                self._due = None
            try:
                done = self._prune()
            except Exception:  # a failed clean-up costs disk space, never the thread
                logging.getLogger("feeds").exception("prune failed")
                done = False
            with self._cond:
                if not done and self._due is None and self._delay < FIRST_RETRY * 2**TRIES:
                    self._delay *= 2
                    self._due = time.monotonic() + self._delay
