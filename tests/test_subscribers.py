"""Subscriber counts end to end: real pollers against the production server (granian with the unit's flags, two
workers), counts read back from /-/stats.json, /metrics and the page, across a restart, on SQLite and PostgreSQL;
the page checked in headless Chromium."""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from sqlalchemy import text

from feeds.db import Database

from .conftest import ROOT, SAMPLE, SITE_CONFIG
from .production import unit_argv
from .server import ServerProcess

TOKEN = "stats-token-0123456789"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )"
INOREADER = "Mozilla/5.0 (compatible; inoreader.com; 17 subscribers)"
NEWSBLUR = 'NewsBlur Feed Fetcher - {n} subscribers - https://www.newsblur.com/site/{id}/notes ("Mozilla/5.0 (Macintosh)")'
READER = "NetNewsWire (RSS Reader; https://netnewswire.com/)"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#: What the pollers below leave, once every worker has written.
EXPECTED = {
    "/": {"feedly": 42, "inoreader": 17, "newsblur": 12, "direct": 3},
    "/tags/go/": {"newsblur": 9},
}
SCREENSHOT = ROOT / "docs" / "subscribers-stats.png"


class Production(ServerProcess):
    """``granian … wsgi:app`` with the unit's flags, from the checkout."""

    def __init__(self, root: Path, env: dict[str, str], workers: int = 2) -> None:
        settings = {"FEEDS_CONFIG": str(root / "feeds.toml"), "FEEDS_CONTENT_DIR": str(root / "content")}
        self._spawn("granian", root, settings, env)
        self._environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(dir=root, prefix="metrics-")
        self._run(unit_argv(workers, self.port), ROOT)
        self._wait_ready()

    @property
    def environ(self) -> dict[str, str]:
        """The server's environment (its settings), for a ``feeds`` command run beside it."""
        return dict(self._environ)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def stats(self) -> dict[str, Any]:
        status, _, body = self.get("/-/stats.json", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, body
        data: dict[str, Any] = json.loads(body)
        return data


def sources(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {feed["feed"]: feed["sources"] for feed in stats["feeds"] if feed["sources"]}


def wait_for(what: Callable[[], bool], message: Callable[[], str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, message()
        time.sleep(0.1)


def poll(server: Production, path: str, agent: str, client: str, times: int = 2) -> list[int]:
    """feedparser polling ``path`` ``times`` times through the trusted proxy as ``client``, conditionally after the first."""
    statuses, etag, modified = [], None, None
    for _ in range(times):
        result = feedparser.parse(server.url(path), agent=agent, etag=etag, modified=modified, request_headers={"X-Forwarded-For": client})
        statuses.append(result.get("status", 0))
        etag, modified = result.get("etag", etag), result.get("modified", modified)
    return statuses


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'feeds.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres").create_database()
    env = {"FEEDS_DATABASE_URL": url, "FEEDS_STATS_TOKEN": TOKEN, "FEEDS_STATS_FLUSH_INTERVAL": "1", "FEEDS_POLL_LIMIT": "2"}
    yield tmp_path, env


def test_real_pollers_are_counted_across_workers_and_a_restart(site: tuple[Path, dict[str, str]]) -> None:
    root, env = site
    server = Production(root, env)
    try:
        assert poll(server, "/feed.xml", FEEDLY, "203.0.113.10") == [200, 304]
        assert poll(server, "/atom.xml", INOREADER, "203.0.113.11", times=1) == [200]
        for newsblur_site, count, client in ((1, 5, "203.0.113.12"), (2, 7, "203.0.113.13")):  # two of NewsBlur's ids for one feed
            assert poll(server, "/feed.json", NEWSBLUR.format(n=count, id=newsblur_site), client, 1) == [200]
        poll(server, "/tags/go/feed.xml", NEWSBLUR.format(n=9, id=3), "203.0.113.12", 1)
        for i in (1, 2, 3):  # three direct readers behind the proxy, each polling twice; the first also reads Atom
            assert poll(server, "/feed.xml", READER, f"198.51.100.{i}") == [200, 304]
        poll(server, "/atom.xml", READER, "198.51.100.1")
        poll(server, "/feed.xml", READER, "198.51.100.40", times=1)  # fetched once: not a subscriber
        poll(server, "/feed.xml", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "198.51.100.41")
        for _ in range(2):  # a person looking at the feed in a browser
            server.get("/feed.xml", {"Accept": BROWSER, "User-Agent": "Mozilla/5.0 Firefox/140.0", "X-Forwarded-For": "198.51.100.42"})
        refused = []
        for _ in range(10):  # a reader that fetches in full again and again, until it is answered 429 (a limit per worker)
            status, _, _ = server.get("/tags/go/feed.xml", {"User-Agent": READER, "X-Forwarded-For": "198.51.100.99"})
            refused.append(status)
            if status == 429:
                break
        assert refused[-1] == 429 and refused.count(200) >= 2, refused  # it would count, had it not been refused
        wait_for(lambda: sources(server.stats()) == EXPECTED, lambda: f"counts never matched: {sources(server.stats())}")
    finally:
        server.process.send_signal(15)
        assert server.process.wait(timeout=20) == 0
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log and log.count(" event=stop ") == 2, log[-3000:]

    _add_history(env["FEEDS_DATABASE_URL"])
    again = Production(root, env)  # a new server on the same database: every worker wrote its last polls as it stopped
    try:
        stats = again.stats()
        assert sources(stats) == EXPECTED
        site_feed = next(feed for feed in stats["feeds"] if feed["feed"] == "/")
        assert site_feed["formats"] == {
            "rss": {"feedly": 42, "direct": 3},
            "atom": {"inoreader": 17, "direct": 1},
            "json": {"newsblur": 12},
        }
        assert site_feed["subscribers"] == 74 and stats["subscribers"] == 83
        assert len(site_feed["history"]) == 90 and site_feed["history"][-1]["subscribers"] == 74
        metrics = again.get("/metrics")[2].decode()
        gauges = dict(re.findall(r'^feeds_subscribers\{(feed="[^"]*",source="[^"]*")\} (\S+)$', metrics, re.M))
        assert gauges == {
            f'feed="{feed}",source="{source}"': f"{count:.1f}" for feed, by in EXPECTED.items() for source, count in by.items()
        }
        page = _check_page(again, root)
        assert "<script" not in page
        command = subprocess.run([sys.executable, "-m", "feeds", "stats"], env=again.environ, capture_output=True, text=True, timeout=60)
        assert command.returncode == 0, command.stderr
        assert [line.split() for line in command.stdout.splitlines()] == [
            ["FEED", "SUBSCRIBERS", "AGGREGATORS", "DIRECT", "FEDIVERSE"],
            ["/", "74", "71", "3", "0"],
            ["/tags/go/", "9", "9", "0", "0"],
        ]
        as_json = json.loads(
            subprocess.run([sys.executable, "-m", "feeds", "stats", "--json"], env=again.environ, capture_output=True, timeout=60).stdout
        )
        assert {feed["feed"]: feed["sources"] for feed in as_json["feeds"]} == EXPECTED
    finally:
        again.stop()


def _add_history(url: str) -> None:
    """Eighty-nine earlier days of history for the site's feeds, as the daily roll-up leaves it."""
    today = datetime.now(UTC).date()
    rows = []
    for back in range(1, 90):
        day = (today - timedelta(days=back)).isoformat()
        growth = 90 - back
        rows += [
            {"day": day, "feed": "/", "format": "all", "source": "feedly", "subscribers": 20 + growth // 4},
            {"day": day, "feed": "/", "format": "all", "source": "inoreader", "subscribers": 10 + round(3 * math.sin(back / 9))},
            {"day": day, "feed": "/", "format": "all", "source": "direct", "subscribers": 2 + (back % 7 == 0)},
        ]
    database = Database(url)
    with database.write() as connection:
        connection.execute(text("INSERT INTO subscriber_daily VALUES (:day, :feed, :format, :source, :subscribers)"), rows)
    database.close()


def _check_page(server: Production, root: Path) -> str:
    """The page: 401 without the token, then its text; in Chromium (when installed): the DOM and a screenshot."""
    assert server.get("/-/stats")[0] == 401
    assert server.get("/-/stats", {"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    status, headers, body = server.get("/-/stats", {"Authorization": f"Basic {basic}"})
    page = body.decode()
    assert (
        status == 200
        and "script-src" not in headers["content-security-policy"]
        and "default-src 'none'" in headers["content-security-policy"]
    )
    assert '<p class="total">83</p>' in page and page.count("<svg") >= 2
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make test-deps)")
        return page
    url = f"http://stats:{TOKEN}@127.0.0.1:{server.port}/-/stats"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
    flags += ["--disable-component-update", "--disable-sync", f"--user-data-dir={tempfile.mkdtemp(dir=root)}", "--window-size=900,1300"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert '<p class="total">83</p>' in dom.stdout and "<polygon" in dom.stdout, dom.stderr[-2000:]
    shot = root / "stats.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # a rendered page with a chart, not a blank one (~4 KB) or an error page
    if os.environ.get("FEEDS_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)
    return page
