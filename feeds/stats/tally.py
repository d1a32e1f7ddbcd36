"""One worker's polls since its last write, in memory: the only counting a request pays for.

A request adds one to a count keyed by what it arrived with — the feed URL
path, the User-Agent, the peer address, ``X-Forwarded-For`` and whether it was
conditional — so the request thread parses, classifies and hashes nothing: the
flusher does all that (``feeds.stats.batch``). Memory is bounded by
``MAX_PENDING_POLLS`` keys.

``add`` takes no lock (it is the 304 path's; a lock cost 40% of it): it is one
dictionary read and one write, each atomic under the GIL. Two threads
answering the same key at the same instant may count one poll, not two —
harmless, as it only takes a second poll (or a conditional one) to count a
reader. ``drain`` swaps the dictionary and hands back the one it swapped out
at the *previous* drain, which no request thread can still be writing to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from feeds.limits import MAX_PENDING_POLLS

#: (path, User-Agent, peer address, X-Forwarded-For)
Client = tuple[str, str, str, str | None]
#: A Client and whether the request was conditional (If-None-Match or If-Modified-Since: it has fetched before).
Key = tuple[str, str, str, str | None, bool]


class Generation(NamedTuple):
    """The polls of one tally, from one drain to the next."""

    polls: dict[Key, int]
    #: Clients answered 429.
    refused: set[Client]
    #: When it started (the caller's clock).
    started: float


class Tally:
    """``on_half_full`` is called when half of ``limit`` keys are in use (to write early)."""

    def __init__(self, limit: int = MAX_PENDING_POLLS, on_half_full: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.on_half_full = on_half_full
        #: Polls dropped because ``limit`` keys were in use (approximate: counted without a lock).
        self.dropped = 0
        self._polls: dict[Key, int] = {}
        self._refused: set[Client] = set()
        #: When the current tally started (a time the caller gives; 0 until the first drain).
        self._started = 0.0
        #: What the last drain swapped out: handed over by the next drain.
        self._resting = Generation({}, set(), 0.0)
        self._lock = threading.Lock()

    def add(self, key: Key) -> None:
        """Count one poll (an answer 200 or 304) for ``key``."""
        polls = self._polls
        count = polls.get(key)
        if count is None:
            size = len(polls)
            if size >= self.limit:
                self.dropped += 1
                return
            if size == self.limit // 2 and self.on_half_full is not None:
                self.on_half_full()
            polls[key] = 1
        else:
            polls[key] = count + 1

    def refuse(self, client: Client) -> None:
        """Note that ``client`` was answered 429 (rare: under a lock)."""
        with self._lock:
            if len(self._refused) < self.limit:
                self._refused.add(client)

    def start(self, now: float) -> None:
        """Say when the first tally starts."""
        self._started = now

    def drain(self, now: float, everything: bool = False) -> tuple[list[Generation], int]:
        """Start a new tally at ``now``; return the one before it (``everything``, at stop: both, oldest first) and the drops."""
        with self._lock:
            fresh = Generation(self._polls, self._refused, self._started)
            self._polls, self._refused, self._started = {}, set(), now
            resting, self._resting = self._resting, fresh
            dropped, self.dropped = self.dropped, 0
            generations = [resting]
            if everything:
                self._resting = Generation({}, set(), now)
                generations.append(fresh)
        return [g for g in generations if g.polls or g.refused], dropped

    def restore(self, generations: list[Generation]) -> None:
        """Put drained generations back (their write failed): they go out with the next drain, within ``limit``.

        They are merged into one, counted from the oldest start: after a failed write at midnight, a few
        polls may count on the day before.
        """
        with self._lock:
            polls, refused, started = self._resting
            for generation in generations:
                polls = merge(generation.polls, polls)
                refused = refused | generation.refused
                started = min(started, generation.started) if started else generation.started
            for key in list(polls)[self.limit :]:
                self.dropped += polls.pop(key)
            self._resting = Generation(polls, refused, started)

    def __len__(self) -> int:
        return len(self._polls) + len(self._resting[0])


def merge(first: dict[Key, int], second: dict[Key, int]) -> dict[Key, int]:
    merged = dict(first)
    for key, count in second.items():
        merged[key] = merged.get(key, 0) + count
    return merged
