"""WebSub publisher: tell hubs which feeds changed, in the background, with retries.

https://www.w3.org/TR/websub/#publishing — the publish ping itself is hub-specific;
``hub.mode=publish`` with the topic as both ``hub.topic`` and ``hub.url`` (form-encoded POST) is what the common
hubs accept. Pings never run on a request or inside the rebuild: the Builder
listener only enqueues, a daemon thread delivers.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field

from feeds import log, urls
from feeds.render.formats import FORMATS
from feeds.snapshot.diff import changed_items
from feeds.snapshot.manifest import Manifest


def changed_topics(old: Manifest | None, new: Manifest, site_url: str) -> list[str]:
    """Return the URLs of the current feeds whose bytes differ between two manifests.

    Subscribers subscribe to a feed's plain URL (the current feed), so that document is
    the topic — percent-encoded exactly as the feed's own self link; archives
    are not topics. A first build (no ``old``) pings nothing: nothing is known
    to have changed for subscribers.
    """
    if old is None:
        return []
    topics = []
    for path in changed_items(old, new):
        parts = urls.split_feed_path(path)
        if parts is None or parts[1] not in FORMATS or parts[2] is not None:  # archives are not topics
            continue
        topics.append(urls.absolute(site_url, path))
    return topics


@dataclass(order=True)
class _Ping:
    #: Monotonic time at which to (re)try.
    due: float
    seq: int
    hub: str = field(compare=False)
    topic: str = field(compare=False)
    attempt: int = field(compare=False, default=0)


@dataclass
class Publisher:
    """Delivers publish pings to every hub on a daemon thread; ``stop()`` ends it."""

    hubs: tuple[str, ...]
    site_url: str
    #: Attempts per ping before giving up, and the first retry delay (doubles each time).
    attempts: int = 6
    backoff: float = 2.0
    max_backoff: float = 300.0
    timeout: float = 10.0
    #: Delivered and abandoned pings, for tests and metrics.
    sent: int = 0
    failed: int = 0
    _heap: list[_Ping] = field(default_factory=list, repr=False)
    _pending: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _busy: int = 0
    _seq: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _stopping: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Publisher:
        """Start the delivery thread (once)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="feeds-websub", daemon=True)
                self._thread.start()
        return self

    def on_publish(self, old: Manifest | None, new: Manifest) -> None:
        """Builder listener: queue a ping per hub for every feed whose bytes changed."""
        self.publish(changed_topics(old, new, self.site_url))

    def publish(self, topics: Iterable[str]) -> None:
        """Queue a ping to every hub for each topic; a ping already waiting is not doubled."""
        now = time.monotonic()
        with self._cond:
            for topic in topics:
                for hub in self.hubs:
                    if (hub, topic) not in self._pending:
                        self._pending.add((hub, topic))
                        heapq.heappush(self._heap, _Ping(now, next(self._seq), hub, topic))
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being sent (retries included); return whether it is."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self, deadline: float | None = None) -> None:
        """Stop the thread, waiting for a ping in flight until ``deadline`` (monotonic); pings still waiting are dropped (logged)."""
        with self._cond:
            self._stopping = True
            dropped = len(self._heap)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, (deadline if deadline is not None else time.monotonic() + 5.0) - time.monotonic()))
        if dropped:
            log.event("websub_dropped", logging.WARNING, pings=dropped)

    def _next(self) -> _Ping | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0].due <= now:
                    self._busy += 1
                    ping = heapq.heappop(self._heap)
                    # A change published while this ping is out queues a new one.
                    self._pending.discard((ping.hub, ping.topic))
                    return ping
                self._cond.wait(self._heap[0].due - now if self._heap else None)
            return None

    def _run(self) -> None:
        while (ping := self._next()) is not None:
            try:
                self._deliver(ping)
            except Exception:  # never let one bad ping end the thread
                logging.getLogger("feeds").exception("websub ping failed")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _deliver(self, ping: _Ping) -> None:
        error = _post(ping.hub, ping.topic, self.timeout)
        with self._cond:
            if error is None:
                self.sent += 1
                log.event("websub_ping", hub=ping.hub, topic=ping.topic, attempt=ping.attempt + 1, result="ok")
                return
            if (ping.hub, ping.topic) in self._pending:
                return  # a newer ping for the same feed is already queued
            if ping.attempt + 1 >= self.attempts or self._stopping:
                self.failed += 1
                fields = {"hub": ping.hub, "topic": ping.topic, "attempt": ping.attempt + 1, "error": error}
                log.event("websub_ping", logging.WARNING, result="gave_up", **fields)
                return
            delay = min(self.backoff * 2**ping.attempt, self.max_backoff)
            fields = {"hub": ping.hub, "topic": ping.topic, "attempt": ping.attempt + 1, "error": error}
            log.event("websub_ping", logging.WARNING, result="retry", retry_in=delay, **fields)
            self._pending.add((ping.hub, ping.topic))
            heapq.heappush(self._heap, _Ping(time.monotonic() + delay, next(self._seq), ping.hub, ping.topic, ping.attempt + 1))


def _post(hub: str, topic: str, timeout: float) -> str | None:
    """POST one publish ping; return None on a 2xx, else what went wrong."""
    # The spec leaves the ping to each hub: some read hub.url (the PubSubHubbub 0.4
    # name), others hub.topic (flask-websub answers 400 without it). Send both.
    data = urllib.parse.urlencode({"hub.mode": "publish", "hub.topic": topic, "hub.url": topic}).encode("ascii")
    request = urllib.request.Request(hub, data=data, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return f"{type(e).__name__}: {getattr(e, 'reason', e)}"
    return None if 200 <= status < 300 else f"HTTP {status}"
