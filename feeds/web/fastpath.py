"""A WSGI layer in front of Flask that replays its answers to repeated feed requests.

Every body comes from an immutable snapshot, so while the snapshot stays the
same, the same request gets the same response. The first such request goes
through Flask; its status, headers and bytes are kept and replayed for the
next identical request, skipping routing, the request/response objects and
the view. A swap of the snapshot empties the cache. Only GET/HEAD answers that
carry an ETag and may be cached publicly (what ``conditional.send`` produces)
are kept, within a budget of bytes per worker (the hot set: page-1 feeds that
readers poll; everything else streams from its file); everything else, errors
included, always goes through Flask.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from feeds.limits import REPLAY_ENTRIES

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Request headers that can change the answer besides method, path and query:
# the two that feed answers vary on (Accept: browser view; Accept-Encoding: gzip),
# the conditionals, and a byte range (media: a 200 kept for a plain GET must not answer
# a Range request). An answer varying on anything else is never kept.
_KEYED = (
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
)
_VARY_OK = frozenset({"", "accept", "accept-encoding"})


class ReplayCache:
    """Wraps ``app``; ``current`` returns the snapshot in service (any object; compared by identity)."""

    def __init__(self, app: WSGIApp, current: Callable[[], object], budget: int = 16 << 20) -> None:
        self.app = app
        self.current = current
        #: Bytes of bodies kept at most; the oldest answers go first.
        self.budget = budget
        self._snapshot: object = None
        self._answers: OrderedDict[tuple[str | None, ...], tuple[str, list[tuple[str, str]], bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        key = (method, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")) + tuple(environ.get(h) for h in _KEYED)
        snapshot = self.current()
        if snapshot is not None and snapshot is self._snapshot:
            answer = self._answers.get(key)
            if answer is not None:
                start_response(answer[0], list(answer[1]))
                return [answer[2]]
        return self._through_flask(environ, start_response, key, snapshot)

    def _through_flask(
        self, environ: dict[str, Any], start_response: Callable[..., Any], key: tuple[str | None, ...], snapshot: object
    ) -> Iterable[bytes]:
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers, exc_info]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, capture)
        if snapshot is None or not seen or seen[2] is not None or not _cacheable(seen[0], seen[1], self.budget):
            return result
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        with self._lock:
            # Keep it only if the snapshot did not change while Flask answered.
            if self.current() is snapshot:
                if self._snapshot is not snapshot:
                    self._snapshot, self._answers, self._bytes = snapshot, OrderedDict(), 0
                old = self._answers.pop(key, None)
                self._bytes -= len(old[2]) if old else 0
                while self._answers and (self._bytes + len(data) > self.budget or len(self._answers) >= REPLAY_ENTRIES):
                    self._bytes -= len(self._answers.popitem(last=False)[1][2])
                self._answers[key] = (seen[0], list(seen[1]), data)
                self._bytes += len(data)
        return [data]


def _cacheable(status: str, headers: list[tuple[str, str]], budget: int) -> bool:
    if not status.startswith(("200 ", "304 ")):
        return False
    names = {name.lower(): value for name, value in headers}
    if int(names.get("content-length") or 0) > budget // 8:
        return False  # a big body (an older page) streams from its file; the budget is for the hot set
    cache_control = names.get("cache-control", "")
    vary = {part.strip().lower() for part in names.get("vary", "").split(",")}
    return (
        "etag" in names
        and "set-cookie" not in names
        and cache_control.startswith("public")
        and "no-store" not in cache_control
        and vary <= _VARY_OK
    )
