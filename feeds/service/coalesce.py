"""Run a job for many callers, at most one at a time and one more queued."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Coalescer:
    """Run ``job(force)`` for a caller, at most one at a time and one queued.

    ``request()`` runs the job in the caller's thread when idle (looping while
    more requests came in during a run) and returns True; when a run is under
    way it marks one more run as due (forced if any request asked for force)
    and returns False at once — or, given ``wait``, once that run has ended
    (True) or after ``wait`` seconds (False). ``changed`` says whether any run
    of the last request's loop returned true.
    """

    job: Callable[[bool], object]
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _running: bool = field(default=False, init=False)
    _again: bool = field(default=False, init=False)
    _force: bool = field(default=False, init=False)
    #: Runs completed so far (failed ones included).
    runs: int = field(default=0, init=False)
    changed: bool = field(default=False, init=False)
    _ended: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ended = threading.Condition(self._lock)

    def request(self, force: bool = False, wait: float = 0.0) -> bool:
        with self._lock:
            if self._running:
                self._again = True
                self._force |= force
                due = self.runs + 2  # the run under way ends, then the one marked due (it sees what this caller asks for)
                return wait > 0 and self._ended.wait_for(lambda: self.runs >= due, wait)
            self._running = True
        error: Exception | None = None
        changed = False
        while True:
            try:
                changed |= bool(self.job(force))
            except Exception as e:  # the run that is due must still happen; raise afterwards
                error = e
            with self._lock:
                # Decide and release in one step, so a request arriving now is never lost.
                self.runs += 1
                self._ended.notify_all()
                again, self._again = self._again, False
                force, self._force = self._force, False
                self._running = again
            if not again:
                break
        self.changed = changed
        if error is not None:
            raise error
        return True
