"""A least-recently-used cache bounded by bytes, for render caches whose values hold a post's HTML.

``functools.lru_cache`` bounds the number of calls kept, whatever they hold: 4,096 feed
entries with their full HTML are tens of megabytes at one site and a few at another. A
builder that renders in its own process (an edit's documents, a page asked for early)
keeps its caches for as long as it runs, so they are bounded by what they hold.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ByteBounded(Generic[P, R]):
    """``fn`` with its answers kept by arguments, least recently used first out, while their weights sum to ``budget``.

    ``weigh(answer, *args)`` is about the bytes a kept call holds (its arguments and its answer);
    a call heavier than the budget is answered and not kept. Safe to call from several threads
    (two threads may compute the same answer at once; both are equal).
    """

    def __init__(self, fn: Callable[P, R], budget: int, weigh: Callable[..., int]) -> None:
        self.fn = fn
        self.budget = budget
        self.weigh = weigh
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._kept: OrderedDict[Hashable, tuple[R, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found[0]
        answer = self.fn(*args, **kwargs)
        weight = self.weigh(answer, *args, **kwargs)
        if weight > self.budget:
            return answer
        with self._lock:
            old = self._kept.pop(key, None)
            self._bytes += weight - (old[1] if old else 0)
            self._kept[key] = (answer, weight)
            while self._bytes > self.budget:
                self._bytes -= self._kept.popitem(last=False)[1][1]
        return answer

    @property
    def held(self) -> int:
        """The weight of what is kept now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._kept)

    def cache_clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0
