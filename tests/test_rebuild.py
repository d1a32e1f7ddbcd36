"""POST /-/rebuild: off without a token, bearer-guarded, one rebuild at a time, coalesced."""

from __future__ import annotations

import hmac
import http.client
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from feeds.service.coalesce import Coalescer
from feeds.web import rebuild
from feeds.web.rebuild import authorized

from .conftest import SITE_CONFIG
from .corpus import SAMPLE
from .server import ServerProcess
from .waiting import wait_until
from .wellformed import titles

TOKEN = "s3cret-token-\u00e9"  # not only ASCII: the comparison works on bytes
POST = "2026-05-02-three-layers-of-idempotency.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server with a rebuild token and a scan interval too long to interfere."""
    root = tmp_path_factory.mktemp("rebuild")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    # Many wrong tokens are sent on purpose here; the per-client throttle of wrong tokens has its own tests (test_abuse).
    # No file-system events either: only the requests of these tests scan (tests/test_watch.py has the events).
    env = {"FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_SCAN_INTERVAL": "3600", "FEEDS_REBUILD_FAILURE_LIMIT": "0", "FEEDS_WATCH": "false"}
    with ServerProcess(root / "content", root / "feeds.toml", env=env) as server:
        # The server answers from its first publish on, while the start-up scan still saves and prunes: a rebuild
        # asked then is queued (202). The tests start from an idle builder: ask until one is done.
        wait_until(lambda: call(server, "POST", "/-/rebuild", bearer(TOKEN))[0] == 200, 30.0, "the start-up scan to end")
        # A rebuild's answer comes before the rest of its snapshot (archives, post pages) is rendered in the background,
        # which records one more scan: the tests that compare /healthz before and after start once that is done too.
        wait_until(lambda: _idle(server), 30.0, "the builder idle with a complete snapshot")
        yield server, root / "content"


def _idle(server: ServerProcess) -> bool:
    health = json.loads(call(server, "GET", "/healthz")[2])
    return bool(health["complete"]) and health.get("builder_activity") == "idle"


def call(server: ServerProcess, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in {"Content-Length": "0", **(headers or {})}.items():
            connection.putheader(name, value.encode("utf-8"))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        bearer("wrong"),
        bearer(TOKEN[:-1]),
        bearer(TOKEN + "x"),
        bearer(TOKEN.upper()),
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"X-Token": TOKEN},
        {"Authorization": "Bearer " + "A" * 10000},
    ],
    ids=lambda h: str(h)[:40],
)
def test_wrong_or_missing_token_is_401_without_detail(site: tuple[ServerProcess, Path], headers: dict[str, str]) -> None:
    server, _ = site
    before = json.loads(call(server, "GET", "/healthz")[2])
    status, response_headers, body = call(server, "POST", "/-/rebuild", headers)
    assert status == 401
    assert body == b"401 Unauthorized\n"
    assert response_headers["www-authenticate"].startswith("Bearer")
    assert response_headers["x-content-type-options"] == "nosniff"
    after = json.loads(call(server, "GET", "/healthz")[2])
    assert (after["version"], after["last_scan"]) == (before["version"], before["last_scan"])


def test_only_post_is_allowed(site: tuple[ServerProcess, Path]) -> None:
    server, _ = site
    for method in ("GET", "PUT", "DELETE"):
        status, headers, _ = call(server, method, "/-/rebuild", bearer(TOKEN))
        assert status == 405
        assert "POST" in headers["allow"]


def test_rebuild_picks_up_an_edit_at_once(site: tuple[ServerProcess, Path]) -> None:
    server, content = site
    status, headers, body = call(server, "POST", "/-/rebuild", bearer(TOKEN))
    assert status == 200 and headers["cache-control"] == "no-store"
    result = json.loads(body)
    assert result["status"] == "done" and result["changed"] is False
    version = result["version"]

    source = content / POST
    source.write_text(source.read_text(encoding="utf-8").replace("Three Layers of Idempotency", "Four Layers", 1), encoding="utf-8")
    status, _, body = call(server, "POST", "/-/rebuild", {"Authorization": f"bearer  {TOKEN}"})  # scheme is case-insensitive
    result = json.loads(body)
    assert status == 200 and result["changed"] is True and result["version"] != version
    assert "Four Layers" in titles("feed.json", call(server, "GET", "/feed.json")[2])
    assert json.loads(call(server, "GET", "/healthz")[2])["version"] == result["version"]


def test_concurrent_requests_are_coalesced(site: tuple[ServerProcess, Path]) -> None:
    server, _ = site
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda _: call(server, "POST", "/-/rebuild", bearer(TOKEN)), range(24)))
    statuses = [status for status, _, _ in replies]
    assert set(statuses) <= {200, 202}
    assert 200 in statuses
    for status, _, body in replies:
        assert json.loads(body)["status"] == ("done" if status == 200 else "queued")


def test_no_other_request_changes_state(site: tuple[ServerProcess, Path]) -> None:
    server, _ = site
    before = json.loads(call(server, "GET", "/healthz")[2])
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/feed.xml", "/tags/go/feed.json", "/healthz", "/feeds.opml", "/-/rebuild/", "/-/rebuild/x", "/-/"):
            status, _, _ = call(server, method, path, bearer(TOKEN))
            assert status in (404, 405, 308), (method, path, status)
    after = json.loads(call(server, "GET", "/healthz")[2])
    assert (after["version"], after["last_scan"]) == (before["version"], before["last_scan"])


# In-process: the pieces.


def test_token_is_compared_in_constant_time(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(rebuild.hmac, "compare_digest", spy)
    client = make_app(rebuild_token="abc").test_client()
    assert client.post("/-/rebuild", headers=bearer("abd")).status_code == 401
    assert client.post("/-/rebuild", headers=bearer("abc")).status_code == 200
    assert calls == [(b"abd", b"abc"), (b"abc", b"abc")]


def test_route_is_absent_without_a_token(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.post("/-/rebuild", headers=bearer("")).status_code == 404
    assert client.get("/-/rebuild").status_code == 404


def test_authorized_parses_the_header() -> None:
    assert authorized("Bearer t", "t") and authorized("bearer t", "t") and authorized("  BEARER   t  ", "t")
    assert not authorized(None, "t") and not authorized("Bearer", "t") and not authorized("Bearer t2", "t")
    assert not authorized("Basic t", "t") and not authorized("t", "t") and not authorized("Bearer \udcff", "t")
    assert authorized("Bearer caf\u00c3\u00a9", "caf\u00e9")  # UTF-8 bytes as WSGI hands them over


def _blocking_job(fail_first: bool = False) -> tuple[Callable[[], None], threading.Event, threading.Event, list[int]]:
    """A job whose first run signals ``started`` and waits for ``release`` (then fails, if asked)."""
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def job(force: bool = False) -> None:
        runs.append(1)
        if len(runs) == 1:
            started.set()
            release.wait(10)
            if fail_first:
                raise RuntimeError("first run fails")

    return job, started, release, runs


def test_coalescer_runs_once_more_for_any_number_of_requests_during_a_run() -> None:
    job, started, release, runs = _blocking_job()

    coalescer = Coalescer(job)
    first = threading.Thread(target=coalescer.request)
    first.start()
    assert started.wait(10)
    assert [coalescer.request() for _ in range(5)] == [False] * 5  # answered at once, not queued up
    release.set()
    first.join(10)
    assert len(runs) == 2 and coalescer.runs == 2
    assert coalescer.request() is True and len(runs) == 3  # idle again: runs in the caller


def test_coalescer_recovers_from_a_failing_job() -> None:
    def job(force: bool = False) -> None:
        raise RuntimeError("boom")

    coalescer = Coalescer(job)
    with pytest.raises(RuntimeError):
        coalescer.request()
    with pytest.raises(RuntimeError):
        coalescer.request()  # not stuck in "running"


def test_coalescer_still_runs_the_queued_run_after_a_failure() -> None:
    job, started, release, runs = _blocking_job(fail_first=True)

    coalescer = Coalescer(job)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            coalescer.request()
        except RuntimeError as e:
            errors.append(e)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    assert coalescer.request() is False
    release.set()
    thread.join(10)
    assert len(runs) == 2 and [str(e) for e in errors] == ["first run fails"]


def test_a_request_that_waits_returns_when_the_run_it_queued_has_ended() -> None:
    job, started, release, runs = _blocking_job()

    coalescer = Coalescer(job)
    first = threading.Thread(target=coalescer.request)
    first.start()
    assert started.wait(10)
    answers: list[bool] = []
    waiting = threading.Thread(target=lambda: answers.append(coalescer.request(wait=10)))
    waiting.start()
    wait_until(lambda: coalescer._again, 10, "the waiting request to mark one more run")
    assert coalescer.request(wait=0.05) is False, "the run under way still blocks: this shorter wait ends first"
    release.set()
    waiting.join(10)
    first.join(10)
    assert answers == [True] and len(runs) == 2, "answered after the run it queued (the second), not before"
