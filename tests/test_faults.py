"""A full, read-only, failing or deleted snapshot_dir never changes what is served; the next scan retries and cleans up.

One real gunicorn (three workers, a scan every second) publishes to a folder on
a 24 MB tmpfs. Each test breaks that file system under it, checks that every
worker goes on serving the previous snapshot byte for byte, that the failure is
logged once per cause with the path, that every worker's /healthz says degraded
and that /metrics counts it; then repairs it and checks that the next scan
publishes and leaves no temporary file or unnamed body behind.

EIO is the exception: this machine has no failing block device (no device
mapper, no fault injection), so that test runs the builder in-process with a
fault-injecting wrapper around the flush (syncfs), where a failing disk reports it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds import log
from feeds.fsutil import is_temporary, sync_filesystem
from feeds.snapshot import store as store_module
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.store import Store

from .builds import Records
from .mounts import fill, read_only, tmpfs
from .server import Reply
from .test_gunicorn import Gunicorn, _site, _until
from .waiting import wait_until

WORKERS = 3
PATHS = ("/feed.xml", "/atom.xml", "/feed.json", "/tags/idempotency/feed.xml", "/")
POST = "2026-05-02-three-layers-of-idempotency.md"
TITLE = "Three Layers of Idempotency"


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with tmpfs(tmp_path_factory.mktemp("disk"), "24m") as mount:
        yield mount


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, disk: Path) -> Iterator[Gunicorn]:
    root = _site(tmp_path_factory.mktemp("site"))
    server = Gunicorn(root, env={"FEEDS_SNAPSHOT_DIR": str(disk / "snap"), "FEEDS_POLL_LIMIT": "0"}, workers=WORKERS)
    try:
        server.start_all()
        yield server
    finally:
        server.stop()


def every_worker(server: Gunicorn, path: str) -> dict[int, Reply]:
    """One reply to ``path`` from each live worker (requests sent several at a time until each has answered)."""
    replies: dict[int, Reply] = {}
    deadline = time.monotonic() + 10
    with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
        while not server.workers() <= replies.keys():
            assert time.monotonic() < deadline, f"not every worker answered {path}: {sorted(replies)} of {sorted(server.workers())}"
            for reply in pool.map(lambda _: server.request(path), range(4 * WORKERS)):
                assert "x-feeds-worker" in reply.headers, (path, reply.status, reply.body[:300])
                replies[int(reply.headers["x-feeds-worker"])] = reply
    return {pid: reply for pid, reply in replies.items() if pid in server.workers()}


def served(server: Gunicorn) -> dict[str, str]:
    """The ETag of each of PATHS, the same from every worker (asserted)."""
    etags = {}
    for path in PATHS:
        replies = every_worker(server, path)
        assert {r.status for r in replies.values()} == {200}, path
        assert all(r.headers["etag"] == f'"{_sha(r.body)}"' for r in replies.values()), path
        (etags[path],) = {r.headers["etag"] for r in replies.values()}
    return etags


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def healths(server: Gunicorn) -> dict[int, dict[str, object]]:
    return {pid: json.loads(reply.body) for pid, reply in every_worker(server, "/healthz").items()}


def edit(server: Gunicorn, title: str, paragraph: str = "") -> None:
    """Retitle the post; with ``paragraph``, add it to the body too (so its HTML is rendered and written again)."""
    post = server.log.parent / "content" / POST
    text = re.sub(r'title: "[^"]*"', f'title: "{title}"', post.read_text(), count=1)
    post.write_text(text + (f"\n{paragraph}\n" if paragraph else ""))


def failed(server: Gunicorn) -> float:
    return server.metric("feeds_publishes_total", result="failed")


def wait_for_failures(server: Gunicorn, count: int, since: float) -> None:
    """Wait until ``count`` more publishes failed (one per scan: the next scans retry)."""
    _until(lambda: failed(server) >= since + count, timeout=20)


def wait_for_recovery(server: Gunicorn, before: dict[str, str]) -> dict[str, str]:
    """Wait until every worker serves new bytes and says ok; return the new ETags."""
    _until(lambda: before["/feed.xml"] not in {r.headers["etag"] for r in every_worker(server, "/feed.xml").values()}, timeout=20)
    _until(lambda: all(h["status"] == "ok" for h in healths(server).values()), timeout=20)
    return served(server)


def unnamed(snapshot: Path) -> set[str]:
    """Bodies (and temporary files) in the object store that no manifest on disk names."""
    store = Store(snapshot)
    named: set[str] = set()
    for path in store.manifests.glob("*.json"):
        with contextlib.suppress(SnapshotError):  # pruned meanwhile (it, or one it was written against)
            named.update(item.etag.strip('"') for item in store.load(path.name).items.values())
    return {p.parent.name + p.name.removesuffix(".gz") for p in (snapshot / "objects").glob("*/*")} - named


def clean(snapshot: Path) -> None:
    """No temporary file anywhere, and every body is named by a manifest still on disk.

    Once the workers let go of the snapshot they served before (a moment after the swap) the builder prunes again.
    """

    def leftovers() -> list[str]:
        return [str(p) for p in snapshot.rglob("*") if is_temporary(p.name)] + sorted(unnamed(snapshot))

    wait_until(lambda: not leftovers(), 15.0, "the leftovers pruned", detail=lambda: str(leftovers()[:5]))


def test_a_full_disk_keeps_the_previous_snapshot_and_the_next_scan_retries(cluster: Gunicorn, disk: Path) -> None:
    snapshot = disk / "snap"
    before = served(cluster)
    failures, lines = failed(cluster), len(cluster.events("publish_failed"))
    # What a kill -9 in the middle of a write leaves: a temporary file of a process that is gone.
    shard = next(p for p in (snapshot / "objects").iterdir() if p.is_dir())
    (shard / ".tmp-cafe.4194303.1").write_bytes(b"half a body")

    filler = fill(disk, leave=256 << 10)  # room for a few bodies, not for the whole edit
    try:
        edit(cluster, f"{TITLE} (disk full)")
        wait_for_failures(cluster, 2, failures)
        # A second edit while full: the bodies the first attempts wrote are named by no snapshot now.
        edit(cluster, f"{TITLE} (disk full, edited again)")
        wait_for_failures(cluster, 4, failures)

        assert served(cluster) == before  # every worker, byte for byte
        states = healths(cluster)
        assert {h["status"] for h in states.values()} == {"degraded"}, states
        assert all("No space left on device" in str(h["error"]) and str(snapshot) in str(h["error"]) for h in states.values()), states
        logged = cluster.events("publish_failed")[lines:]
        assert 1 <= len(logged) <= 2, logged  # once per cause (the second edit may fail at another file), not per scan
        assert all(str(snapshot) in line and "No space left on device" in line for line in logged), logged
        assert len(unnamed(snapshot)) > 1, logged  # the planted file, and bodies the failed attempts wrote: cleaned up below
    finally:
        filler.unlink()

    after = wait_for_recovery(cluster, before)
    assert f"{TITLE} (disk full, edited again)" in cluster.request("/feed.xml").body.decode()
    assert failed(cluster) >= failures + 4
    assert cluster.metric("feeds_degraded") == 0
    clean(snapshot)
    assert served(cluster) == after


def test_a_read_only_snapshot_dir_keeps_the_previous_snapshot_and_the_next_scan_retries(cluster: Gunicorn, disk: Path) -> None:
    snapshot = disk / "snap"
    before = served(cluster)
    failures, lines = failed(cluster), len(cluster.events("publish_failed"))
    with read_only(snapshot):
        edit(cluster, f"{TITLE} (read-only)", "A paragraph written while the disk was read-only.")
        wait_for_failures(cluster, 2, failures)
        assert served(cluster) == before
        states = healths(cluster)
        assert {h["status"] for h in states.values()} == {"degraded"}, states
        assert all("read-only" in str(h["error"]).lower() for h in states.values()), states
        logged = cluster.events("publish_failed")[lines:]
        assert len(logged) == 1, logged
        # The post's new HTML is the first file written: its path and cause, not a "not rendered" puzzle.
        assert f"{snapshot}/render/" in logged[0] and "Read-only file system" in logged[0], logged
    wait_for_recovery(cluster, before)
    assert f"{TITLE} (read-only)" in cluster.request("/feed.xml").body.decode()
    clean(snapshot)


def test_a_deleted_snapshot_dir_is_published_again_by_the_one_builder(cluster: Gunicorn, disk: Path) -> None:
    snapshot = disk / "snap"
    before = served(cluster)
    builders = {h["builder_pid"] for h in healths(cluster).values()}
    assert len(builders) == 1
    snapshot.rename(disk / "removed")  # gone at once from every worker's view (an rm -rf races with the builder's writes)
    shutil.rmtree(disk / "removed")
    # Every worker goes on answering, with the same bytes, while the builder publishes it all again.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert served(cluster) == before
    _until(lambda: (snapshot / "current").exists(), timeout=10)
    assert len(cluster.events("snapshot_lost")) == 1
    _until(lambda: all(h["status"] == "ok" for h in healths(cluster).values()), timeout=20)
    assert served(cluster) == before
    loads_now = len(cluster.events("load"))
    # The snapshot published again is read once, not at every poll. A follower reads status.json at every poll too:
    # a status it has not seen yet is on its /healthz once it has looked. Twice over, and no manifest was read again.
    for n in (1, 2):
        marker = _mark_status(snapshot, n)

        def shown(m: str = marker, n: int = n) -> bool:
            if json.loads((snapshot / "status.json").read_bytes())["last_scan"] != m:
                _mark_status(snapshot, n)  # the builder wrote its own status since (its work after the publish ended)
            return {h["last_scan"] for h in healths(cluster).values() if h["role"] == "follower"} == {m}

        _until(shown)
    assert len(cluster.events("load")) == loads_now

    # A worker started now must not become a second builder on the recreated folder.
    follower = next(pid for pid in cluster.workers() if pid not in builders)
    os.kill(follower, signal.SIGTERM)
    _until(lambda: follower not in cluster.workers() and len(cluster.workers()) == WORKERS)
    _until(lambda: served(cluster) == before)
    assert {h["builder_pid"] for h in healths(cluster).values()} == builders
    assert {h["role"] for h in healths(cluster).values()} == {"builder", "follower"}
    edit(cluster, f"{TITLE} (after the folder came back)")
    wait_for_recovery(cluster, before)
    clean(snapshot)


def _mark_status(snapshot: Path, n: int) -> str:
    """Rewrite the builder's status.json with a last scan no scan has (the followers show it once they have read it)."""
    path = snapshot / "status.json"
    data = json.loads(path.read_bytes())
    data["last_scan"] = datetime(2000, 1, n, tzinfo=UTC).isoformat()
    path.with_name(".status-mark").write_text(json.dumps(data), encoding="utf-8")
    os.replace(path.with_name(".status-mark"), path)
    return str(data["last_scan"])


def test_a_failing_flush_keeps_the_previous_snapshot_and_the_retry_writes_the_bodies_again(
    make_app: Callable[..., Flask], content: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    app = make_app()
    runtime, client = app.extensions["feeds"], app.test_client()
    snapshot = runtime.folder
    served_before, etag = runtime.current, client.get("/feed.xml").headers["ETag"]
    bodies_before = set((snapshot / "objects").glob("*/*"))
    events: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(log, "_observers", [*log._observers, lambda name, fields: events.append((name, fields))])
    lines = Records()
    logging.getLogger("feeds").addHandler(lines)
    request.addfinalizer(lambda: logging.getLogger("feeds").removeHandler(lines))

    def failing_flush(folder: Path) -> None:  # what syncfs answers when the disk fails to write back
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(folder))

    monkeypatch.setattr(store_module, "sync_filesystem", failing_flush)
    post = content / POST
    post.write_text(post.read_text().replace(f'title: "{TITLE}"', f'title: "{TITLE} (EIO)"', 1), encoding="utf-8")
    assert runtime.builder_run() is False
    assert runtime.builder_run() is False  # the next scan retries

    assert runtime.current is served_before and client.get("/feed.xml").headers["ETag"] == etag
    health = client.get("/healthz").json
    assert health["status"] == "degraded" and "Input/output error" in health["error"] and str(snapshot) in health["error"]
    assert [name for name, _ in events].count("publish_failed") == 2  # both attempts counted (/metrics) ...
    logged = [r for r in lines.records if r.getMessage() == "publish_failed"]
    assert len(logged) == 1 and logged[0].feeds_fields["path"] == str(snapshot)  # ... logged once, with the path
    assert 'feeds_publishes_total{result="failed"}' in client.get("/metrics").get_data(as_text=True)
    # ... and the new bodies, whose bytes may never have reached the disk, are not kept to be trusted by the retry.
    assert set((snapshot / "objects").glob("*/*")) == bodies_before

    monkeypatch.setattr(store_module, "sync_filesystem", sync_filesystem)
    assert runtime.builder_run() is True
    assert client.get("/healthz").json["status"] == "ok"
    assert f"{TITLE} (EIO)" in client.get("/feed.xml").get_data(as_text=True)
    clean(snapshot)
