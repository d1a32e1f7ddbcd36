"""``granian --interface wsgi wsgi:app`` answers byte for byte what ``gunicorn wsgi:app`` answers."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SITE_CONFIG
from .corpus import SAMPLE
from .server import free_port

pytest.importorskip("granian")

# Headers each server writes itself (not the app's); everything else must match exactly.
SERVER_OWN = frozenset({"date", "server", "connection", "keep-alive"})
SITE_URL = "http://feeds.test"


class Served:
    """One WSGI server process running ``wsgi:app`` on 127.0.0.1 with one worker (gunicorn reads ./gunicorn.conf.py)."""

    def __init__(self, name: str, content: Path, config: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = content.parent / f"{name}-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
        # The same site URL for both servers, so absolute links in the bodies agree.
        environ |= {"FEEDS_CONFIG": str(config), "FEEDS_CONTENT_DIR": str(content), "FEEDS_SITE_URL": SITE_URL}
        # Its own snapshot_dir: each server builds its snapshot itself instead of loading the other's.
        environ["FEEDS_SNAPSHOT_DIR"] = str(content.parent / f"snapshot-{name}")
        if name == "granian":
            command = ["-m", "granian", "--interface", "wsgi", "--workers", "1", "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            command = ["-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{self.port}"]
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, *command, "wsgi:app"], cwd=ROOT, env=environ, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log.read_text()}")
            try:
                if self.request("GET", "/healthz", {})[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not start:\n{self.log.read_text()}")

    def request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, the app's headers (lower-case names, in order) and the raw body (no decompression)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            own = [(k.lower(), v) for k, v in response.getheaders() if k.lower() not in SERVER_OWN]
            return response.status, own, response.read()
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


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
                expected = gunicorn.request(method, path, headers)
                got = granian.request(method, path, headers)
                assert got == expected, (method, path, headers)


def test_conditional_requests_answer_the_same(servers: tuple[Served, Served]) -> None:
    gunicorn, granian = servers
    for path in ("/feed.xml", "/tags/observability/atom.xml", "/feed.json"):
        for encoding in ({}, GZIP):
            status, headers, _ = gunicorn.request("GET", path, encoding)
            assert status == 200, path
            validators = dict(headers)
            for conditional in (
                {"If-None-Match": validators["etag"]},
                {"If-Modified-Since": validators["last-modified"]},
                {"If-None-Match": '"stale"'},
            ):
                for method in ("GET", "HEAD", "GET"):
                    expected = gunicorn.request(method, path, encoding | conditional)
                    assert granian.request(method, path, encoding | conditional) == expected, (method, path, encoding, conditional)
            assert gunicorn.request("GET", path, encoding | {"If-None-Match": validators["etag"]})[0] == 304, path
