"""The builder's heap between builds: collected once per publish, then left alone."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable

#: One settling in this many collects everything (the set-aside objects too); the others only what the build made.
FULL_EVERY = 32
_settled = 0


def settle_heap() -> None:
    """Collect garbage now, after a publish, and set what is alive aside from the collector.

    At 10k posts the index, plan and manifest are about a million objects: left in the collector's
    oldest generation, the next scan's allocations start a full collection over all of them (~80 ms)
    on its way to the publish. Set aside (``gc.freeze``), they are skipped until this runs again;
    what they stop referencing is still freed at once by reference counting. A collection over
    everything costs time in the size of the site (over a second at 100k posts), so most settlings
    collect only what was made since the last one (an edit's few thousand objects); a cycle among
    set-aside objects waits for the next full one.
    """
    global _settled
    _settled += 1
    if _settled % FULL_EVERY == 1:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    if _malloc_trim is not None:  # hand the pages a build freed back to the system (glibc keeps them otherwise)
        _malloc_trim(0)


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to hand back this way
        return None


_malloc_trim = _libc_malloc_trim()
