"""Waiting in tests: poll a condition against a deadline, never sleep a fixed time.

A test that waits names what it waits for; when the deadline passes it fails with
that name (and, if given, what the logs say then), and as soon as the condition
holds it goes on. The condition is polled every ``interval`` seconds: that short
pause is the only sleep a waiting test takes. Standard library only: the servers
the tests start (``tests/gated_wsgi.py``) import it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two looks at a condition: short against any deadline, long enough not to spin.
INTERVAL = 0.02


def poll(condition: Callable[[], T | None], timeout: float, interval: float = INTERVAL) -> T | None:
    """Call ``condition`` until it returns something true and return that; None once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    detail: Callable[[], str] | None = None,
    interval: float = INTERVAL,
) -> T:
    """Wait until ``condition()`` returns something true and return it; fail naming ``what`` (and ``detail()``) after ``timeout``.

    An exception ``condition`` raises (a server process that exited, say) ends the wait at once.
    """
    found = poll(condition, timeout, interval)
    if not found:
        raise AssertionError(f"waited {timeout:g} s for {what}" + (f":\n{detail()}" if detail else ""))
    return found
