"""Slow and abusive clients: slowloris, a client polling one feed 50 times a second, a storm of wrong rebuild tokens.

The middleware (``feeds.web.ratelimit``) is tested directly with a stand-in
app and a fake clock; the rest against real servers on 127.0.0.1: granian (the
production server), gunicorn alone, and nginx with ``deploy/nginx.conf`` in
front of gunicorn. Each load is small and bounded in count and time. "Other
clients" connect from 127.0.0.2 and up (Linux routes all of 127/8 to the
loopback), so the server sees them as different addresses.
"""

from __future__ import annotations

import http.client
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from feeds.clients import ClientAddress
from feeds.config import load_config
from feeds.errors import ConfigError
from feeds.web.ratelimit import RateLimit, Windows

from .conftest import ROOT, SAMPLE, SITE_CONFIG
from .server import WsgiServer, free_port
from .waiting import wait_until

TOKEN = "s3cret-rebuild-token"

# --- the middleware on its own -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """A WSGI app in place of Flask: feeds answer 200 (304 for If-None-Match "v1"), /-/rebuild wants TOKEN."""

    calls: list[str] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/-/rebuild":
            ok = environ.get("HTTP_AUTHORIZATION") == f"Bearer {TOKEN}"
            start_response("200 OK" if ok else "401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"done" if ok else b"no"]
        if environ["PATH_INFO"].endswith("/gone/feed.xml"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such tag"]
        if environ.get("HTTP_IF_NONE_MATCH") == '"v1"':
            start_response("304 Not Modified", [("ETag", '"v1"')])
            return []
        start_response("200 OK", [("Content-Type", "application/rss+xml"), ("ETag", '"v1"')])
        return [b"<rss/>"]


def limited(clock: Clock | None = None, size: int = 1000, **settings: Any) -> tuple[RateLimit, StandIn]:
    app = StandIn()
    config = load_config(env={}, overrides={"poll_limit": 3, "poll_window": 60, "rebuild_failure_limit": 2, **settings})
    return RateLimit(app, config, clock=clock or Clock(), size=size), app


def call(
    middleware: RateLimit,
    path: str = "/feed.xml",
    *,
    peer: str = "192.0.2.1",
    headers: dict[str, str] | None = None,
    method: str = "GET",
    query: str = "",
) -> Answer:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": peer}
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()})
    started: list[Any] = []
    body = b"".join(middleware(environ, lambda status, headers, exc_info=None: started.extend([status, headers])))
    return Answer(int(started[0].split()[0]), {name.lower(): value for name, value in started[1]}, body)


def test_a_client_polling_too_often_gets_429_with_retry_after() -> None:
    clock = Clock()
    middleware, app = limited(clock)
    assert [call(middleware).status for _ in range(3)] == [200, 200, 200]
    clock.now += 20
    refused = call(middleware)
    assert refused.status == 429
    assert refused.headers["retry-after"] == "40"  # the rest of the 60 s window
    assert refused.headers["content-type"] == "text/plain; charset=utf-8"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert b"If-None-Match" in refused.body and len(refused.body) < 200
    assert len(app.calls) == 3  # the refused request never reached the app
    clock.now += 40
    assert call(middleware).status == 200  # a new window


def test_head_is_refused_without_a_body() -> None:
    middleware, _ = limited(poll_limit=1)
    call(middleware, method="HEAD")
    refused = call(middleware, method="HEAD")
    assert refused.status == 429 and refused.body == b"" and int(refused.headers["content-length"]) > 0


def test_conditional_requests_answered_304_are_never_limited() -> None:
    middleware, _ = limited()
    for _ in range(3):
        call(middleware)
    assert call(middleware).status == 429
    assert [call(middleware, headers={"If-None-Match": '"v1"'}).status for _ in range(20)] == [304] * 20


def test_a_made_up_validator_does_not_dodge_the_limit() -> None:
    middleware, _ = limited()
    assert [call(middleware, headers={"If-None-Match": '"nonsense"'}).status for _ in range(4)] == [200, 200, 200, 429]
    assert call(middleware, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status == 429


def test_other_clients_other_feeds_and_other_paths_are_not_limited() -> None:
    middleware, _ = limited()
    for _ in range(4):
        call(middleware)
    assert call(middleware).status == 429
    assert call(middleware, peer="192.0.2.2").status == 200
    assert call(middleware, "/atom.xml").status == 200
    assert call(middleware, "/tags/go/feed.xml").status == 200
    assert call(middleware, query="page=2").status == 200
    assert all(call(middleware, path).status == 200 for path in ["/", "/healthz", "/metrics", "/feeds.opml"] for _ in range(5))


def test_a_missing_feed_counts_too() -> None:
    middleware, _ = limited()
    assert [call(middleware, "/tags/gone/feed.xml").status for _ in range(4)] == [404, 404, 404, 429]


def test_poll_limit_0_turns_it_off() -> None:
    middleware, _ = limited(poll_limit=0)
    assert {call(middleware).status for _ in range(50)} == {200}


def test_tracked_windows_stay_bounded_oldest_dropped_first() -> None:
    clock = Clock()
    windows = Windows(limit=1, seconds=60, size=100, clock=clock)
    for n in range(1000):
        windows.add(n)
        clock.now += 0.001
    assert len(windows) <= 100
    assert windows.wait(999) > 0 and windows.wait(0) == 0  # the newest is still tracked, the oldest was dropped
    clock.now += 60
    windows.add("new")
    assert len(windows) == 1  # ended windows are dropped as new ones open


def test_exactly_the_limit_is_served_to_concurrent_requests() -> None:
    windows = Windows(limit=500, seconds=60)
    served = []

    def poll() -> None:
        for _ in range(200):
            if not windows.wait("client"):
                windows.add("client")
                served.append(1)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert windows.wait("client") > 0
    assert 500 <= len(served) <= 504  # checked and counted apart: at most one more per thread


def test_no_lock_is_held_while_the_app_answers() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REMOTE_ADDR"] == "192.0.2.1":
            entered.set()
            release.wait(5)
        start_response("200 OK", [])
        return [b"x"]

    middleware = RateLimit(slow_app, load_config(env={}))
    blocked = threading.Thread(target=call, args=(middleware,))
    blocked.start()
    assert entered.wait(5)
    try:
        assert call(middleware, peer="192.0.2.2").status == 200  # answered while the first request is still inside the app
    finally:
        release.set()
        blocked.join()


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.1", None, "192.0.2.1"),
        ("192.0.2.1", "198.51.100.7", "192.0.2.1"),  # an untrusted peer cannot name another client
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),  # nginx on the host: the client it saw
        ("127.0.0.1", "203.0.113.9, 198.51.100.7", "198.51.100.7"),  # the left part is the client's own claim
        ("127.0.0.1", "198.51.100.7, 127.0.0.1", "198.51.100.7"),  # through two trusted hops
        ("127.0.0.1", "garbage, 127.0.0.5", "127.0.0.5"),  # nothing usable beyond the trusted hops
        ("127.0.0.1", "198.51.100.7:1234", "127.0.0.1"),  # not an address: the peer
        ("", "198.51.100.7", "198.51.100.7"),  # a Unix socket peer is local, trusted as loopback is
        ("::ffff:192.0.2.1", None, "192.0.2.1"),
        ("2001:db8:1:2::10", None, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa::99", None, "2001:db8:1:2::/64"),  # the same /64, the same client
        ("::1", "2001:db8::1", "2001:db8::/64"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, client: str) -> None:
    environ = {"REMOTE_ADDR": peer} | ({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})
    assert ClientAddress(load_config(env={}).trusted_proxies)(environ) == client


def test_trusted_proxies_setting() -> None:
    assert load_config(env={"FEEDS_TRUSTED_PROXIES": "10.1.2.3/8, 2001:db8::/32 192.0.2.7"}).trusted_proxies == (
        "10.0.0.0/8",
        "2001:db8::/32",
        "192.0.2.7/32",
    )
    assert load_config(env={"FEEDS_TRUSTED_PROXIES": ""}).trusted_proxies == ()
    with pytest.raises(ConfigError, match="trusted_proxies: not an address or network: 'nginx'"):
        load_config(env={"FEEDS_TRUSTED_PROXIES": "nginx"})


def test_without_trusted_proxies_forwarded_for_is_ignored() -> None:
    assert ClientAddress(())({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}) == "127.0.0.1"


def test_a_spoofed_forwarded_for_neither_dodges_the_limit_nor_frames_another_client() -> None:
    middleware, _ = limited()
    statuses = [call(middleware, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert call(middleware, peer="198.51.100.1").status == 200  # the client it named is untouched
    behind_nginx = [call(middleware, peer="127.0.0.1", headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.5"}).status for n in range(5)]
    assert behind_nginx == [200, 200, 200, 429, 429]


def test_wrong_rebuild_tokens_are_throttled_before_the_comparison() -> None:
    clock = Clock()
    middleware, app = limited(clock)
    wrong = {"Authorization": "Bearer guess"}
    assert [call(middleware, "/-/rebuild", method="POST", headers=wrong).status for _ in range(2)] == [401, 401]
    refused = call(middleware, "/-/rebuild", method="POST", headers=wrong)
    assert refused.status == 429 and refused.headers["retry-after"] == "60"
    assert call(middleware, "/-/rebuild", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}).status == 429
    assert app.calls.count("/-/rebuild") == 2  # the app never saw the refused ones
    assert call(middleware, "/-/rebuild", method="POST", headers=wrong, peer="192.0.2.2").status == 401  # only that client
    clock.now += 60
    assert call(middleware, "/-/rebuild", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200


def test_a_good_token_clears_earlier_failures() -> None:
    middleware, _ = limited()
    call(middleware, "/-/rebuild", method="POST", headers={"Authorization": "Bearer typo"})
    call(middleware, "/-/rebuild", method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
    statuses = [call(middleware, "/-/rebuild", method="POST", headers={"Authorization": "Bearer x"}).status for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_one_log_line_per_client_and_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    middleware, _ = limited(clock)
    with caplog.at_level("INFO", logger="feeds"):
        for _ in range(50):
            call(middleware)
        clock.now += 60
        for _ in range(50):
            call(middleware)
    events = [r for r in caplog.records if r.getMessage() == "rate_limited"]
    assert len(events) == 2
    assert events[0].feeds_fields == {  # type: ignore[attr-defined]
        "limit": "poll",
        "client": "192.0.2.1",
        "path": "/feed.xml",
        "allowed": 3,
        "window": 60,
        "retry_after": 60,
    }


# --- in the app: counted in /metrics ---------------------------------------------------------


def requests_total(app: Flask, route: str, status: str) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == "feeds_requests_total"]
    return sum(s.value for s in samples if s.labels["route"] == route and s.labels["status"] == status)


def test_429s_are_counted_in_metrics(make_app: Callable[..., Flask]) -> None:
    app = make_app(poll_limit=2, rebuild_token=TOKEN, rebuild_failure_limit=1)
    client = app.test_client()
    feeds_before, rebuild_before = requests_total(app, "feed", "429"), requests_total(app, "rebuild", "429")
    assert [client.get("/atom.xml").status_code for _ in range(4)] == [200, 200, 429, 429]
    assert [client.post("/-/rebuild", headers={"Authorization": "Bearer x"}).status_code for _ in range(3)] == [401, 429, 429]
    assert requests_total(app, "feed", "429") - feeds_before == 2
    assert requests_total(app, "rebuild", "429") - rebuild_before == 2


# --- real servers ----------------------------------------------------------------------------

#: A request head that is never finished: the slow clients send one byte of it a second.
SLOW_HEAD = b"GET /feed.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nAccept: */*\r\nX-Padding: " + b"a" * 100


@dataclass
class Slow:
    opened: int = 0
    #: Seconds after the start at which the server closed each slow connection.
    closed: list[float] = field(default_factory=list)
    #: Set once every connection has sent its first byte.
    sending: threading.Event = field(default_factory=threading.Event)


@contextmanager
def slow_clients(port: int, count: int, seconds: float) -> Iterator[Slow]:
    """Open ``count`` connections that send a request head one byte a second, for at most ``seconds``."""
    stats = Slow()
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    stats.opened = len(sockets)
    stop = threading.Event()
    start = time.monotonic()

    def trickle() -> None:
        open_ = list(sockets)
        for i in range(len(SLOW_HEAD)):
            if stop.is_set() or time.monotonic() - start > seconds:
                return
            readable, _, _ = select.select(open_, [], [], 0)
            for sock in list(open_):
                try:
                    if sock in readable and not sock.recv(4096):
                        raise ConnectionResetError
                    sock.send(SLOW_HEAD[i : i + 1])
                except OSError:
                    open_.remove(sock)
                    stats.closed.append(time.monotonic() - start)
            stats.sending.set()
            stop.wait(1.0)  # the pace of a slow client: the behaviour under test, not a wait for something

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()


@dataclass
class Fetch:
    path: str
    #: The status, or the name of the error (TimeoutError).
    status: int | str
    seconds: float
    #: Header names in lower case.
    headers: dict[str, str] = field(default_factory=dict)


def fetch(port: int, path: str, source: str, timeout: float = 3.0, headers: dict[str, str] | None = None) -> Fetch:
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return Fetch(path, response.status, time.monotonic() - start, {k.lower(): v for k, v in response.getheaders()})
    except OSError as e:
        return Fetch(path, type(e).__name__, time.monotonic() - start)
    finally:
        connection.close()


def another_client(port: int, seconds: float, paths: tuple[str, ...] = ("/feed.xml",), source: str = "127.0.0.2") -> list[Fetch]:
    """Fetch ``paths`` in turn every 0.2 s for ``seconds``, as an ordinary reader would, from ``source``."""
    fetches: list[Fetch] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fetches.append(fetch(port, paths[len(fetches) % len(paths)], source))
        time.sleep(max(0.0, 0.2 - fetches[-1].seconds))  # a reader's pace, not a wait for something
    return fetches


def report(what: str, fetches: list[Fetch]) -> str:
    times = sorted(f.seconds for f in fetches)
    return f"{what}: {len(fetches)} requests, median {times[len(times) // 2] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms"


def assert_answered_within_one_second(fetches: list[Fetch]) -> None:
    assert fetches
    late = [f for f in fetches if f.status != 200 or f.seconds > 1.0]
    assert not late, late[:5]


def site(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def granian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiServer]:
    """The production server, 2 workers, rebuilds on; each test below speaks from its own 127.0.0.x addresses."""
    root = site(tmp_path_factory, "abuse-granian")
    (root / "metrics").mkdir()
    env = {"FEEDS_REBUILD_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(root / "metrics")}
    with WsgiServer("granian", root / "content", root / "feeds.toml", workers=2, env=env) as server:
        yield server


def test_granian_answers_others_within_1s_while_100_connections_send_headers_one_byte_a_second(granian: WsgiServer) -> None:
    with slow_clients(granian.port, 100, seconds=12) as slow:
        fetches = another_client(granian.port, 12, ("/feed.xml", "/healthz"))
    print(report("granian, 100 slow connections", fetches))
    assert slow.opened == 100
    assert_answered_within_one_second(fetches)


def test_granian_closes_a_silent_connection_after_the_header_read_timeout(tmp_path_factory: pytest.TempPathFactory) -> None:
    # With --http auto (granian's default) a connection that never sends a byte is kept open
    # for good: hyper-util's protocol detection has no timer. With --http 1 the header read
    # timeout runs from the moment the connection is accepted.
    root = site(tmp_path_factory, "abuse-silent")
    env = {"GRANIAN_HTTP": "1", "GRANIAN_HTTP1_HEADER_READ_TIMEOUT": "2000"}
    with WsgiServer("granian", root / "content", root / "feeds.toml", workers=1, env=env) as server:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=6) as silent:
            assert silent.recv(4096) == b""  # closed by the server, with nothing sent
        assert 1.5 < time.monotonic() - start < 5


def test_one_client_polling_50_times_a_second_gets_429_and_others_are_unaffected(granian: WsgiServer) -> None:
    port = granian.port
    with ThreadPoolExecutor(1) as pool:
        others = pool.submit(another_client, port, 5.0, ("/feed.xml",), "127.0.0.3")
        # One keep-alive connection, as a broken reader would poll: 260 requests, 50 a second.
        poller = http.client.HTTPConnection("127.0.0.1", port, timeout=3, source_address=("127.0.0.4", 0))
        statuses: list[int] = []
        retry_after: set[str] = set()
        etag = ""
        deadline = time.monotonic() + 15
        while len(statuses) < 260 and time.monotonic() < deadline:
            started = time.monotonic()
            poller.request("GET", "/feed.xml")
            response = poller.getresponse()
            response.read()
            statuses.append(response.status)
            etag = etag or response.getheader("ETag", "")
            if response.status == 429:
                retry_after.add(response.getheader("Retry-After", ""))
                assert response.getheader("Cache-Control") == "no-store"
            time.sleep(max(0.0, 0.02 - (time.monotonic() - started)))  # the poller's rate is the behaviour under test
        # The same client, asking the same URL properly, is still answered.
        poller.request("GET", "/feed.xml", headers={"If-None-Match": etag})
        conditional = poller.getresponse()
        conditional.read()
        poller.close()
        fetches = others.result()
    print(f"poller: {len(statuses)} requests, {statuses.count(200)} × 200, {statuses.count(429)} × 429, Retry-After {sorted(retry_after)}")
    print(report("another client meanwhile", fetches))
    assert len(statuses) == 260
    assert statuses.count(200) <= 2 * 120  # the default poll_limit, per worker
    assert statuses.count(429) == 260 - statuses.count(200)
    assert all(value.isdigit() and 1 <= int(value) <= 60 for value in retry_after)
    assert conditional.status == 304
    assert_answered_within_one_second(fetches)
    assert metric(port, "feeds_requests_total", route="feed", status="429") >= statuses.count(429)


def metric(port: int, name: str, **labels: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.9", 0))
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))


def test_200_wrong_token_rebuilds_stay_cheap_and_trigger_no_rebuild(granian: WsgiServer) -> None:
    port = granian.port
    rebuilds_before = metric(port, "feeds_rebuilds_total")
    assert rebuilds_before >= 1  # the start-up build is counted: the figure checked below can move

    def bad_post(n: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(f"127.0.0.{10 + n % 3}", 0))
        try:
            connection.request("POST", "/-/rebuild", headers={"Authorization": f"Bearer guess-{n}"})
            response = connection.getresponse()
            response.read()
            assert response.status == 401 or response.getheader("Retry-After")
            return response.status
        finally:
            connection.close()
            time.sleep(0.07)  # the storm's pace, not a wait: 5 threads, about 3 s, while the other client polls

    with ThreadPoolExecutor(5) as pool:
        others = pool.submit(another_client, port, 4.0, ("/feed.xml", "/healthz"), "127.0.0.5")
        started = time.monotonic()
        statuses = list(pool.map(bad_post, range(200)))
        storm = time.monotonic() - started
        fetches = others.result()
    print(f"200 wrong tokens from 3 addresses in {storm:.2f} s: {statuses.count(401)} × 401, {statuses.count(429)} × 429")
    print(report("another client meanwhile", fetches))
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 3 * 2 * 10  # rebuild_failure_limit per address, per worker
    assert_answered_within_one_second(fetches)
    assert metric(port, "feeds_rebuilds_total") == rebuilds_before
    assert metric(port, "feeds_requests_total", route="rebuild", status="429") == statuses.count(429)
    assert len(re.findall(r"event=rebuild ", granian.log.read_text())) == 1  # the start-up build only
    # The deploy hook, from its own address, is not locked out by the storm.
    good = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=("127.0.0.6", 0))
    good.request("POST", "/-/rebuild", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.getresponse().status == 200
    good.close()


def test_gunicorn_sync_workers_alone_are_held_by_slow_clients(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Documents why gunicorn needs nginx in front: a sync worker reads a request head until it
    # is complete, so one slow connection per worker stops the service until gunicorn kills the
    # worker at `timeout` (30 s) and boots another.
    root = site(tmp_path_factory, "abuse-gunicorn")
    with WsgiServer("gunicorn", root / "content", root / "feeds.toml", workers=2) as server:
        assert fetch(server.port, "/feed.xml", "127.0.0.2", timeout=2.0).status == 200  # answered in time without them
        with slow_clients(server.port, 3, seconds=5) as slow:
            assert slow.sending.wait(5)  # connected before the request below, and trickling
            starved = fetch(server.port, "/feed.xml", "127.0.0.2", timeout=2.0)
    print(f"gunicorn alone, 3 slow connections: another client got {starved.status} after {starved.seconds:.1f} s")
    assert starved.status == "TimeoutError"


@pytest.fixture(scope="module")
def nginx_in_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """deploy/nginx.conf in a real nginx on a free port, in front of gunicorn (2 sync workers); yields nginx's port."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    root = site(tmp_path_factory, "abuse-nginx")
    port = free_port()
    snapshot = root / "snapshot"
    env = {"FEEDS_SNAPSHOT_DIR": str(snapshot), "FEEDS_POLL_LIMIT": "5"}  # low, to see the app's own limit through nginx
    with WsgiServer("gunicorn", root / "content", root / "feeds.toml", workers=2, env=env, site_url=f"http://127.0.0.1:{port}") as app:
        conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
        for old, new in [
            ("listen 80;", f"listen 127.0.0.1:{port};"),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app.port};"),
        ]:
            assert old in conf
            conf = conf.replace(old, new)
        prefix = root / "nginx"
        (prefix / "logs").mkdir(parents=True)
        (prefix / "feeds.conf").write_text(conf, encoding="utf-8")
        user = "user root;" if os.geteuid() == 0 else ""  # the test's folders are private to their owner
        (prefix / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/feeds.conf;
}}
""",
            encoding="utf-8",
        )
        process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
        try:

            def up() -> bool:
                assert process.poll() is None, (prefix / "logs" / "error.log").read_text()
                return fetch(port, "/healthz", "127.0.0.1", timeout=1).status == 200

            wait_until(up, 10, f"nginx on port {port} to answer /healthz", detail=(prefix / "logs" / "error.log").read_text)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def test_nginx_in_front_of_gunicorn_answers_others_within_1s_and_drops_the_slow_connections(nginx_in_front: int) -> None:
    with slow_clients(nginx_in_front, 100, seconds=13) as slow:
        # Everything goes through to gunicorn: the slow clients never reach it. (HTML pages and
        # /healthz: this other client must not run into the app's low poll_limit of this fixture.)
        fetches = another_client(nginx_in_front, 13, ("/", "/healthz", "/tags/"))
    print(report("nginx + gunicorn, 100 slow connections", fetches), f"; nginx closed {len(slow.closed)} slow connections,",
          f"after {min(slow.closed, default=0):.1f}-{max(slow.closed, default=0):.1f} s")  # fmt: skip
    assert_answered_within_one_second(fetches)
    assert len(slow.closed) == 100  # client_header_timeout 10s
    assert all(9 <= t <= 12.5 for t in slow.closed)


def test_nginx_answers_a_feed_poller_429_with_retry_after(nginx_in_front: int) -> None:
    statuses = [fetch(nginx_in_front, "/atom.xml", "127.0.0.7") for _ in range(150)]
    refused = [f for f in statuses if f.status == 429]
    print(f"nginx: 150 polls without validators, {len(refused)} × 429")
    # The app's own limit (5 here, per worker) refuses first; nginx's (120, then 2 a second) stands behind it.
    assert 150 - 2 * 5 >= len(refused) > 0
    assert all(int(f.headers["retry-after"]) > 0 and f.headers.get("cache-control") == "no-store" for f in refused)
    conditional = fetch(nginx_in_front, "/atom.xml", "127.0.0.7", headers={"If-Modified-Since": "Fri, 31 Dec 2100 00:00:00 GMT"})
    assert conditional.status == 304
    assert fetch(nginx_in_front, "/atom.xml", "127.0.0.8").status == 200


def test_behind_nginx_the_app_tells_clients_apart_by_forwarded_for(nginx_in_front: int) -> None:
    # A browser view is the app's answer even behind nginx. nginx reaches the app from
    # 127.0.0.1 (a trusted proxy by default) and names the client in X-Forwarded-For.
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    first = [fetch(nginx_in_front, "/tags/go/atom.xml", "127.0.0.20", headers=browser) for _ in range(12)]
    assert first[0].headers["content-type"].startswith("text/html")
    assert [f.status for f in first].count(429) >= 12 - 2 * 5  # poll_limit 5, per gunicorn worker
    assert fetch(nginx_in_front, "/tags/go/atom.xml", "127.0.0.21", headers=browser).status == 200
    # nginx appends the real address to a made-up one; the app takes the right-most, so a
    # new made-up address each time buys no new allowance (the limit is per worker: 2 × 5).
    made_up = [{**browser, "X-Forwarded-For": f"203.0.113.{n}"} for n in range(12)]
    spoofed = [fetch(nginx_in_front, "/tags/go/atom.xml", "127.0.0.20", headers=headers) for headers in made_up]
    assert [f.status for f in first + spoofed].count(200) <= 2 * 5
