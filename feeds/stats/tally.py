"""One worker's polls since its last write, in memory: the only counting a request pays for.

A request adds one entry (or bumps one) keyed by what it arrived with — the
feed URL path, the User-Agent, the peer address and ``X-Forwarded-For`` — so the
request thread parses, classifies and hashes nothing. The flusher drains the
entries every ``stats_flush_interval`` seconds and does all of that there
(``feeds.stats.batch``). Memory is bounded by ``MAX_PENDING_POLLS`` keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from feeds.limits import MAX_PENDING_POLLS

#: (path, User-Agent, peer address, X-Forwarded-For)
Key = tuple[str, str, str, str | None]


class Poll:
    """What one key did since the last drain."""

    __slots__ = ("conditional", "polls", "refused")

    def __init__(self) -> None:
        #: Answers 200 or 304.
        self.polls = 0
        #: Whether any came with If-None-Match or If-Modified-Since (a client that has fetched before).
        self.conditional = False
        #: Whether any was answered 429.
        self.refused = False


class Tally:
    """Thread-safe; ``add`` is O(1). ``on_half_full`` is called (once per drain) when half of ``limit`` keys are in use."""

    def __init__(self, limit: int = MAX_PENDING_POLLS, on_half_full: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.on_half_full = on_half_full
        #: Polls dropped because ``limit`` keys were in use, since the last drain.
        self.dropped = 0
        self._polls: dict[Key, Poll] = {}
        self._lock = threading.Lock()

    def add(self, key: Key, conditional: bool, refused: bool) -> None:
        """Count one answer for ``key``: a poll (200/304) or, with ``refused``, a 429."""
        with self._lock:
            poll = self._polls.get(key)
            if poll is None:
                if len(self._polls) >= self.limit:
                    self.dropped += 1
                    return
                poll = self._polls[key] = Poll()
                if len(self._polls) == self.limit // 2 and self.on_half_full is not None:
                    self.on_half_full()
            if refused:
                poll.refused = True
            else:
                poll.polls += 1
                if conditional:
                    poll.conditional = True

    def drain(self) -> tuple[dict[Key, Poll], int]:
        """Take every entry and the dropped count, leaving the tally empty."""
        with self._lock:
            polls, self._polls = self._polls, {}
            dropped, self.dropped = self.dropped, 0
        return polls, dropped

    def restore(self, polls: dict[Key, Poll], dropped: int) -> None:
        """Put drained entries back (a write that failed), merged with what came since, within ``limit``."""
        with self._lock:
            self.dropped += dropped
            for key, old in polls.items():
                poll = self._polls.get(key)
                if poll is None:
                    if len(self._polls) >= self.limit:
                        self.dropped += old.polls
                        continue
                    self._polls[key] = old
                    continue
                poll.polls += old.polls
                poll.conditional = poll.conditional or old.conditional
                poll.refused = poll.refused or old.refused

    def __len__(self) -> int:
        return len(self._polls)
