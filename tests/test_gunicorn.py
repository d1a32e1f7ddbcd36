"""Real gunicorn with several workers: one build per change, the same bytes from every worker, counters summed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE, SITE_CONFIG
from .server import Reply, ServerProcess, free_port
from .waiting import wait_until

WORKERS = 3


class Gunicorn(ServerProcess):
    """``gunicorn -c gunicorn.conf.py wsgi:app -w N`` on a free 127.0.0.1 port (reuses ServerProcess's helpers)."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, workers: int = WORKERS) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = root / f"gunicorn-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        environ.update(
            {
                "FEEDS_CONFIG": str(root / "feeds.toml"),
                "FEEDS_CONTENT_DIR": str(root / "content"),
                "FEEDS_SNAPSHOT_DIR": str(root / "snapshot"),
                "FEEDS_SITE_URL": self.base,
                "FEEDS_SCAN_INTERVAL": "1",
                "FEEDS_WORKER_HEADER": "1",
                **(env or {}),
            }
        )
        self.worker_count = workers
        self._log_file = self.log.open("w")
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--chdir", str(ROOT)]
        command += ["-w", str(workers), "-b", f"127.0.0.1:{self.port}", "wsgi:app"]
        self.process = subprocess.Popen(command, env=environ, cwd=root, stdout=self._log_file, stderr=subprocess.STDOUT)

    def start(self) -> Gunicorn:
        self._wait_ready(timeout=30)
        return self

    def start_all(self) -> Gunicorn:
        """Start, then wait until every worker is up and answers with a published snapshot."""
        self.start()
        _until(lambda: len(self.workers()) == self.worker_count)
        _until(lambda: self.serving() >= self.workers())
        return self

    def workers(self) -> set[int]:
        """Pids of the master's live worker processes."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                pids.add(int(stat.parent.name))
        return pids

    def serving(self, tries: int = 20) -> set[int]:
        """Pids of the workers seen answering /healthz with a snapshot, over a few requests."""
        replies = [self.request("/healthz") for _ in range(tries)]
        return {int(json.loads(r.body)["pid"]) for r in replies if r.status == 200}

    def events(self, name: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f" event={name} " in line + " "]

    def health(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.request("/healthz").body)
        return data

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in /metrics (0 when absent)."""
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        for line in self.request("/metrics").body.decode().splitlines():
            match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
            if match and match[1] == name and wanted <= set(filter(None, (match[2] or "").split(","))):
                return float(match[3])
        return 0.0


def _site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    return root


def _until(condition: Callable[[], object], timeout: float = 15.0, what: str = "the condition") -> None:
    wait_until(condition, timeout, what)


def _next_scan(server: Gunicorn) -> None:
    """Wait until the builder has finished a scan that started after now."""

    def last_scan() -> datetime:
        return datetime.fromisoformat(str(server.health()["last_scan"]))

    # Workers learn of a scan up to one poll apart, so compare times, not "changed".
    first = last_scan()
    _until(lambda: last_scan() > first)
    second = last_scan()
    _until(lambda: last_scan() > second)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    server = Gunicorn(_site(tmp_path_factory.mktemp("gunicorn")))
    try:
        server.start_all()
        yield server
    finally:
        server.stop()


def _spread(server: Gunicorn, path: str, count: int, headers: dict[str, str] | None = None) -> list[Reply]:
    """Send ``count`` requests, several at a time: a sync worker holds one, so others must answer too."""
    with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
        return list(pool.map(lambda _: server.request(path, headers=headers), range(count)))


def _edit(server: Gunicorn, marker: str) -> None:
    post = next((server.log.parent / "content").glob("2026-05-02-*.md"))
    text = re.sub(r'title: "Three Layers of Idempotency[^"]*"', f'title: "Three Layers of Idempotency {marker}"', post.read_text())
    post.write_text(text)


def test_every_worker_answers_with_the_same_bytes_etag_and_date(cluster: Gunicorn) -> None:
    for path in ("/feed.xml", "/tags/go/atom.xml", "/feed.json", "/"):
        replies = _spread(cluster, path, 30)
        assert len({r.headers["x-feeds-worker"] for r in replies}) >= 2, "requests all landed on one worker"
        assert {r.status for r in replies} == {200}
        assert len({(r.body, r.headers["etag"], r.headers["last-modified"]) for r in replies}) == 1, path
    zipped = _spread(cluster, "/atom.xml", 20, {"Accept-Encoding": "gzip"})
    assert len({(r.body, r.headers["etag"]) for r in zipped}) == 1
    browser = _spread(cluster, "/tags/go/feed.xml", 20, {"Accept": "text/html,application/xml;q=0.9"})
    assert len({(r.body, r.headers["etag"], r.headers["content-type"]) for r in browser}) == 1
    assert browser[0].headers["content-type"].startswith("text/html")


def test_a_conditional_request_gets_304_from_any_worker(cluster: Gunicorn) -> None:
    etag = cluster.request("/feed.xml").headers["etag"]
    replies = _spread(cluster, "/feed.xml", 20, {"If-None-Match": etag})
    assert {r.status for r in replies} == {304}
    assert len({r.headers["x-feeds-worker"] for r in replies}) >= 2


def test_a_change_is_built_once_and_every_worker_serves_it_within_a_second(cluster: Gunicorn) -> None:
    rebuilds = len(cluster.events("rebuild"))
    counted = cluster.metric("feeds_rebuilds_total", result="ok")
    old = cluster.request("/feed.xml").headers["etag"]
    old_version = cluster.health()["version"]
    _edit(cluster, "(edited once)")
    _until(lambda: cluster.health()["version"] != old_version)
    new = next(v for v in iter(lambda: cluster.health()["version"], None) if v != old_version)

    # Every worker reports, through /healthz, when it began serving the new version.
    served: dict[int, dict[str, object]] = {}
    workers = cluster.workers()

    def every_worker_reported() -> bool:
        health = cluster.health()
        if health["version"] == new:
            served[int(str(health["pid"]))] = health
        return workers <= served.keys()

    _until(every_worker_reported)
    # The swap is the builder's publish (its served_since); followers must follow within 1 s of it.
    (builder,) = [h for h in served.values() if h.get("role") == "builder"]
    swapped = datetime.fromisoformat(str(builder["served_since"]))
    for pid, health in served.items():
        lag = (datetime.fromisoformat(str(health["served_since"])) - swapped).total_seconds()
        assert lag < 1.0, f"worker {pid} served the new snapshot {lag:.2f}s after the swap"
    assert all(r.headers["etag"] != old for r in _spread(cluster, "/feed.xml", 20))

    _next_scan(cluster)  # scans go on, builds do not
    assert len(cluster.events("rebuild")) == rebuilds + 1
    assert cluster.metric("feeds_rebuilds_total", result="ok") == counted + 1
    assert len(cluster.events("load")) >= WORKERS - 1  # the followers loaded it, none built it


def test_metrics_count_requests_of_every_worker(cluster: Gunicorn) -> None:
    before = cluster.metric("feeds_requests_total", route="page", format="opml", status="200")
    before_304 = cluster.metric("feeds_requests_total", route="page", format="opml", status="304")
    replies = _spread(cluster, "/feeds.opml", 30)
    assert len({r.headers["x-feeds-worker"] for r in replies}) >= 2
    etag = replies[0].headers["etag"]
    _spread(cluster, "/feeds.opml", 7, {"If-None-Match": etag})
    assert cluster.metric("feeds_requests_total", route="page", format="opml", status="200") == before + 30
    assert cluster.metric("feeds_requests_total", route="page", format="opml", status="304") == before_304 + 7
    assert cluster.metric("feeds_posts_published") == 21
    assert cluster.metric("feeds_snapshot_age_seconds") > 0


def test_recycled_workers_serve_the_current_snapshot_without_rebuilding(cluster: Gunicorn) -> None:
    rebuilds = len(cluster.events("rebuild"))
    version = cluster.health()["version"]
    builder = int(str(cluster.health()["builder_pid"]))
    follower = next(pid for pid in cluster.workers() if pid != builder)

    os.kill(follower, signal.SIGTERM)  # a graceful recycle, as max_requests does
    _until(lambda: follower not in cluster.workers() and len(cluster.workers()) == WORKERS)
    os.kill(builder, signal.SIGKILL)  # a crash: the kernel releases its lock
    _until(lambda: builder not in cluster.workers() and len(cluster.workers()) == WORKERS)
    _until(lambda: cluster.health()["builder_pid"] not in (None, builder))
    _until(lambda: len(cluster.events("adopt")) == 1)

    replies = _spread(cluster, "/healthz", 30)
    assert {json.loads(r.body)["version"] for r in replies} == {version}
    assert len(cluster.events("rebuild")) == rebuilds

    _edit(cluster, "(edited twice)")
    _until(lambda: cluster.health()["version"] != version)
    _next_scan(cluster)
    assert len(cluster.events("rebuild")) == rebuilds + 1


def test_a_bad_setting_stops_gunicorn_and_names_the_key(tmp_path: Path) -> None:
    server = Gunicorn(_site(tmp_path / "site"), env={"FEEDS_ITEMS_PER_FEED": "lots"})
    code = server.process.wait(timeout=20)
    server.stop()
    assert code != 0
    assert "items_per_feed" in server.log.read_text()


def test_sigterm_stops_every_worker_cleanly(cluster: Gunicorn) -> None:
    # Last in the module: it ends the shared cluster.
    workers = cluster.workers()
    stops = len(cluster.events("stop"))
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(timeout=20) == 0
    assert len(cluster.events("stop")) >= stops + len(workers)
    assert "Traceback" not in cluster.log.read_text()
