"""Per-client limits in front of the app: one feed fetched in full too often, and wrong rebuild tokens.

A WSGI layer that sits inside the request counting (``metrics.CountingFlask``,
so every 429 is counted) and in front of the replay cache (``fastpath``, so a
replayed answer is limited like any other).

- **Polls.** One client gets at most ``poll_limit`` full answers (anything but
  a 304) for one feed URL per ``poll_window`` seconds; after that, 429 with
  ``Retry-After`` until its window ends. A conditional request that the app
  answers 304 is never refused: it costs nothing, and it is what a client
  should send. Counting full answers rather than requests without validators
  means a made-up ``If-None-Match`` does not dodge the limit.
- **Rebuild and stats tokens.** After ``rebuild_failure_limit`` wrong tokens (401) from
  one client per window, ``POST /-/rebuild`` answers 429 before the token is
  even compared, so guessing it is throttled.

A client is the peer address, or, when the peer is one of ``trusted_proxies``,
the right-most address in ``X-Forwarded-For`` that is not (IPv6 clients by
their /64). State lives in each worker process: with N workers a client can
get up to N times the limit (a keep-alive connection stays with one worker).
Memory is bounded: at most ``MAX_TRACKED`` windows per table, the oldest
dropped first.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from feeds import log
from feeds.clients import ClientAddress
from feeds.config import Config
from feeds.limits import MAX_TRACKED
from feeds.render.formats import FORMATS

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

REBUILD_PATH = "/-/rebuild"
#: The subscriber pages: their wrong tokens are limited like the rebuild's.
STATS_PATH = "/-/stats"
_FEED_SUFFIXES = tuple("/" + name for name in FORMATS)


class Windows:
    """Counts per key in fixed windows of ``seconds`` that start at a key's first count.

    Thread-safe and O(1) per call: windows are kept oldest first, so the expired
    ones are dropped from the front as new windows open.
    """

    def __init__(self, limit: int, seconds: float, size: int = MAX_TRACKED, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self.size, self.clock = limit, seconds, size, clock
        # key -> [start, count, refusals]
        self._windows: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: Hashable) -> float:
        """Return the seconds until ``key`` is under its limit again; 0 when it is now."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.seconds or window[1] < self.limit:
                return 0.0
            return window[0] + self.seconds - now

    def add(self, key: Hashable) -> None:
        """Count one for ``key``, opening a new window when its last one has ended."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.seconds:
                self._windows.pop(key, None)  # a new window goes to the back: the oldest stay in front
                self._drop_old(now)
                window = self._windows[key] = [now, 0, 0]
            window[1] += 1

    def refuse(self, key: Hashable) -> bool:
        """Note one refusal for ``key``; return whether it is the first in its window."""
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                return False
            window[2] += 1
            return window[2] == 1

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._windows.pop(key, None)

    def __len__(self) -> int:
        return len(self._windows)

    def _drop_old(self, now: float) -> None:
        # Each window is dropped once, so this is O(1) amortised.
        while self._windows:
            start = next(iter(self._windows.values()))[0]
            if now - start < self.seconds and len(self._windows) < self.size:
                break
            self._windows.popitem(last=False)


class RateLimit:
    """Wraps ``app``; limits set to 0 in ``config`` are off."""

    def __init__(self, app: WSGIApp, config: Config, *, clock: Callable[[], float] = time.monotonic, size: int = MAX_TRACKED) -> None:
        self.app = app
        self.client = ClientAddress(config.trusted_proxies)
        self.polls = Windows(config.poll_limit, config.poll_window, size, clock) if config.poll_limit else None
        self.failures = Windows(config.rebuild_failure_limit, config.poll_window, size, clock) if config.rebuild_failure_limit else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if self.polls is not None and method in ("GET", "HEAD") and path.endswith(_FEED_SUFFIXES):
            return self._poll(self.polls, environ, start_response, path)
        if self.failures is not None and (
            (method == "POST" and path == REBUILD_PATH) or (method in ("GET", "HEAD") and path.startswith(STATS_PATH))
        ):
            return self._rebuild(self.failures, environ, start_response)
        return self.app(environ, start_response)

    def _poll(self, polls: Windows, environ: dict[str, Any], start_response: Callable[..., Any], path: str) -> Iterable[bytes]:
        client = self.client(environ)
        # A hash, not the URL: a client picks the query string, and a window must stay small.
        key = (client, hash((path, environ.get("QUERY_STRING", ""))))
        wait = polls.wait(key)
        if not wait:

            def count_full(status: str) -> None:
                if not status.startswith("304 "):
                    polls.add(key)

            return self.app(environ, _observing(start_response, count_full))
        if environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MODIFIED_SINCE"):
            not_modified = _if_not_modified(self.app, environ, start_response)
            if not_modified is not None:
                return not_modified
        if polls.refuse(key):
            _log_refusal("poll", client, path, polls, wait)
        hint = "this feed was fetched in full too often; send If-None-Match or If-Modified-Since"
        return _too_many(environ, start_response, wait, "feed", hint)

    def _rebuild(self, failures: Windows, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        client = self.client(environ)
        wait = failures.wait(client)
        if wait:
            if failures.refuse(client):
                _log_refusal("rebuild", client, REBUILD_PATH, failures, wait)
            return _too_many(environ, start_response, wait, "rebuild", "too many wrong tokens")

        def outcome(status: str) -> None:
            if status.startswith("401 "):
                failures.add(client)
            elif status.startswith("2"):
                failures.forget(client)

        return self.app(environ, _observing(start_response, outcome))


def _observing(start_response: Callable[..., Any], observe: Callable[[str], object]) -> Callable[..., Any]:
    """Return a ``start_response`` that shows the status to ``observe`` once, then passes it on."""
    seen = False

    def observing(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        nonlocal seen
        if not seen:
            seen = True
            observe(status)
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    return observing


def _if_not_modified(app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """Pass the app's answer on if it is a 304; otherwise discard it and return None.

    The app (Flask, the replay cache) calls ``start_response`` before it returns,
    so the status is known before any byte is sent.
    """
    seen: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        seen[:] = [status, headers, exc_info]
        return lambda data: None

    result = app(environ, capture)
    if seen and seen[0].startswith("304 ") and seen[2] is None:
        start_response(seen[0], seen[1])
        return result
    close = getattr(result, "close", None)
    if close is not None:
        close()
    return None


def _too_many(environ: dict[str, Any], start_response: Callable[..., Any], wait: float, route: str, why: str) -> Iterable[bytes]:
    # https://www.rfc-editor.org/rfc/rfc6585#section-4, Retry-After in seconds: https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
    seconds = max(1, math.ceil(wait))
    body = f"429 Too Many Requests: {why}; retry in {seconds} s\n".encode()
    environ["feeds.labels"] = (route, "text")  # how metrics.CountingFlask labels this answer
    start_response(
        "429 Too Many Requests",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(seconds)),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def _log_refusal(limit: str, client: str, path: str, windows: Windows, wait: float) -> None:
    # Once per client (and URL) per window: nothing is logged per request.
    log.event(
        "rate_limited",
        logging.WARNING,
        limit=limit,
        client=client,
        path=path,
        allowed=windows.limit,
        window=windows.seconds,
        retry_after=max(1, math.ceil(wait)),
    )
