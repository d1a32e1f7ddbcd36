"""``granian --interface wsgi wsgi:app`` answers byte for byte what ``gunicorn wsgi:app`` answers."""

from __future__ import annotations

import http.client
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SITE_CONFIG
from .corpus import SAMPLE
from .server import WsgiServer

pytest.importorskip("granian")

# Headers each server writes itself (not the app's); everything else must match exactly.
SERVER_OWN = frozenset({"date", "server", "connection", "keep-alive"})
SITE_URL = "http://feeds.test"


class Served(WsgiServer):
    """One server process running ``wsgi:app`` with one worker, at the same site URL as the other, so bodies agree."""

    def __init__(self, name: str, content: Path, config: Path) -> None:
        super().__init__(name, content, config, workers=1, site_url=SITE_URL)

    def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, the app's headers (lower-case names, in order) and the raw body (no decompression)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            own = [(k.lower(), v) for k, v in response.getheaders() if k.lower() not in SERVER_OWN]
            return response.status, own, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    root = tmp_path_factory.mktemp("granian")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    started: list[Served] = []
    try:
        for name in ("gunicorn", "granian"):
            started.append(Served(name, root / "content", root / "feeds.toml"))
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


GZIP = {"Accept-Encoding": "gzip"}
PATHS = ["/feed.xml", "/atom.xml", "/feed.json", "/tags/go/feed.xml", "/feed.xml?page=2", "/", "/tags/", "/no-such-feed.xml"]


def test_servers_answer_the_same(servers: tuple[Served, Served]) -> None:
    gunicorn, granian = servers
    for path in PATHS:
        for headers in ({}, GZIP, {"Accept": "text/html"}):
            for method in ("GET", "HEAD", "GET"):  # the second GET is replayed by the fast path
                expected = gunicorn.answer(method, path, headers)
                got = granian.answer(method, path, headers)
                assert got == expected, (method, path, headers)


def test_conditional_requests_answer_the_same(servers: tuple[Served, Served]) -> None:
    gunicorn, granian = servers
    for path in ("/feed.xml", "/tags/observability/atom.xml", "/feed.json"):
        for encoding in ({}, GZIP):
            status, headers, _ = gunicorn.answer("GET", path, encoding)
            assert status == 200, path
            validators = dict(headers)
            for conditional in (
                {"If-None-Match": validators["etag"]},
                {"If-Modified-Since": validators["last-modified"]},
                {"If-None-Match": '"stale"'},
            ):
                for method in ("GET", "HEAD", "GET"):
                    expected = gunicorn.answer(method, path, encoding | conditional)
                    assert granian.answer(method, path, encoding | conditional) == expected, (method, path, encoding, conditional)
            assert gunicorn.answer("GET", path, encoding | {"If-None-Match": validators["etag"]})[0] == 304, path


def test_sigterm_stops_each_worker_cleanly(tmp_path: Path) -> None:
    """granian ends its workers with os._exit(): the app's stop (schedule, watcher, lock hand-off) must still run."""
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    server = WsgiServer("granian", tmp_path / "content", tmp_path / "feeds.toml", workers=2)
    try:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()
    log = server.log.read_text()
    assert log.count(" event=stop ") == 2, log[-3000:]
    assert "Traceback" not in log


def test_a_redirect_names_site_url_in_its_location_and_its_body_whatever_the_host(servers: tuple[Served, Served]) -> None:
    """Werkzeug's own 308 (/tags/go → /tags/go/) wrote the request's Host into its body (issue 15.7)."""
    _, granian = servers
    for path, target in (("/tags/go", "/tags/go/"), ("/tags//go/feed.xml", "/tags/go/feed.xml"), ("/feed.xml?page=1", "/feed.xml")):
        for method in ("GET", "GET", "HEAD"):  # the second GET could come from the replay cache
            status, headers, body = granian.answer(method, path, {"Host": "evil.com"})
            assert status in (301, 308) and dict(headers)["location"] == SITE_URL + target, (method, path)
            assert b"evil.com" not in body and body == (
                f"{status} {'Permanent Redirect' if status == 308 else 'Moved Permanently'}: {SITE_URL}{target}\n".encode()
                if method == "GET"
                else b""
            )


def test_posts_with_no_body_are_served_as_their_golden_files(tmp_path: Path) -> None:
    """No empty content or summary in any format (issue 15.8): tests/data/golden/empty/, served by granian."""
    golden = Path(__file__).resolve().parent / "data" / "golden" / "empty"
    shutil.copytree(golden / "content", tmp_path / "content")
    server = WsgiServer("granian", tmp_path / "content", golden / "feeds.toml", workers=1, site_url="http://empty.example")
    try:
        for filename in ("feed.xml", "atom.xml", "feed.json"):
            reply = server.request(f"/{filename}")
            assert reply.status == 200 and reply.body == (golden / filename).read_bytes(), filename
    finally:
        server.stop()
