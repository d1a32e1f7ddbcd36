"""A snapshot folder removed, full or read-only under the production command: never a 500, never a false success.

granian runs with deploy/feeds.service's flags and two workers (tests/production.py).
Removed while clients poll every document: every answer is the document's bytes or a
moment's 503 with Retry-After, and the builder has published it all again within a
second. On a 5 MB tmpfs filled up, or made read-only: ``POST /-/rebuild`` answers 503
naming the cause, the log names that cause once however often it is retried and once
more when it clears, /metrics counts every attempt, and the previous snapshot is served
throughout.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import SAMPLE, SITE_CONFIG
from .mounts import fill, read_only, tmpfs
from .production import Production
from .waiting import wait_until

POST = "2026-05-02-three-layers-of-idempotency.md"
TITLE = "Three Layers of Idempotency"
TOKEN = "t0ken"
#: How soon the builder must have published everything again after its snapshot folder was removed.
REPUBLISH_WITHIN = 1.0


def _site(root: Path) -> tuple[Path, Path]:
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG.replace("scan_interval = 60", "scan_interval = 3600"), encoding="utf-8")
    return root / "content", root / "feeds.toml"


def _env(snapshot: Path) -> dict[str, str]:
    # No file-system events: each edit here is published by the POST that answers for it (a scan an event started
    # meanwhile would answer it 202, queued; tests/test_watch.py has the events).
    return {"FEEDS_SNAPSHOT_DIR": str(snapshot), "FEEDS_POLL_LIMIT": "0", "FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_WATCH": "false"}


def _up(server: Production) -> None:
    wait_until(server.started, 60.0, "both workers up")
    wait_until(lambda: server.health().get("complete") is True, 60.0, "the complete snapshot")
    wait_until(lambda: server.status().get("activity") == "idle", 60.0, "the builder idle")


def _when(line: str) -> datetime:
    return datetime.fromisoformat(re.search(r"ts=(\S+)", line)[1])  # type: ignore[index]


def test_a_snapshot_folder_removed_while_clients_poll_is_back_within_a_second_and_never_answered_500(tmp_path: Path) -> None:
    content, config = _site(tmp_path)
    snapshot = tmp_path / "snapshot"
    server = Production(content, config, env=_env(snapshot))
    try:
        _up(server)
        manifest = json.loads((snapshot / "current").read_bytes())
        paths = [row[0] for row in manifest["items"] if not row[0].startswith("/_views/")]
        etags = {path: server.request(path).headers["etag"] for path in paths}
        answers: Counter[int] = Counter()
        wrong: list[str] = []
        stop = threading.Event()

        def poll(offset: int) -> None:
            for i in range(offset, 1 << 30, 4):
                if stop.is_set():
                    return
                path = paths[i % len(paths)]
                try:
                    reply = server.request(path)
                except (OSError, http.client.HTTPException) as e:
                    wrong.append(f"{path}: {e!r}")
                    continue
                answers[reply.status] += 1
                if reply.status == 200 and reply.headers["etag"] != etags[path]:
                    wrong.append(f"{path}: ETag {reply.headers['etag']}, expected {etags[path]}")
                elif reply.status == 200 and reply.headers["etag"] != f'"{hashlib.sha256(reply.body).hexdigest()[:32]}"':
                    wrong.append(f"{path}: the body is not the one its ETag names")
                elif reply.status == 503 and reply.headers.get("retry-after") != "1":
                    wrong.append(f"{path}: 503 without Retry-After: 1")
                elif reply.status not in (200, 503):
                    wrong.append(f"{path}: {reply.status} {reply.body[:200]!r}")

        pollers = [threading.Thread(target=poll, args=(k,), daemon=True) for k in range(4)]
        for thread in pollers:
            thread.start()
        try:
            wait_until(lambda: answers[200] >= 100, 30.0, "the pollers under way")
            snapshot.rename(tmp_path / "removed")  # gone at once (an rm -rf races with the builder writing it again)
            shutil.rmtree(tmp_path / "removed")
            wait_until(lambda: (snapshot / "current").exists(), 10.0, "the snapshot published again")
            wait_until(lambda: server.events("rebuild") and server.status().get("activity") == "idle", 30.0, "the builder idle again")
            served = sum(answers.values())
            wait_until(lambda: sum(answers.values()) >= served + 4 * len(paths), 30.0, "every document asked for again")
        finally:
            stop.set()
            for thread in pollers:
                thread.join(10)
        assert not wrong, wrong[:10]
        assert answers[200] > 0 and set(answers) <= {200, 503}, answers
        assert {path: server.request(path).headers["etag"] for path in paths} == etags, "the same bytes, published again"
    finally:
        server.stop()
    assert len(server.events("builder")) == 1 and not server.events("builder_lock_lost"), "one builder throughout"
    (lost,) = server.events("snapshot_lost")
    builder = re.search(r" pid=(\d+)", lost)[1]  # type: ignore[index]
    republished = next(line for line in server.events("publish") if f" pid={builder} " in line and _when(line) > _when(lost))
    seconds = (_when(republished) - _when(lost)).total_seconds()
    print(f"published again {seconds:.3f} s after the removal was noticed; answers: {dict(answers)}")
    assert seconds <= REPUBLISH_WITHIN, f"published again after {seconds:.3f} s"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    # Room for the sample site's snapshot, its saved state and its database twice over, and no more.
    with tmpfs(tmp_path / "disk", "12m") as mount:
        yield mount


def _rebuild(server: Production) -> tuple[int, dict[str, object]]:
    reply = server.request("/-/rebuild", {"Authorization": f"Bearer {TOKEN}", "Content-Length": "0"}, method="POST")
    return reply.status, json.loads(reply.body)


def _edit(content: Path, title: str) -> None:
    post = content / POST
    post.write_text(re.sub(r'title: "[^"]*"', f'title: "{title}"', post.read_text(encoding="utf-8"), count=1), encoding="utf-8")


def _failed_attempts(server: Production) -> float:
    for line in server.request("/metrics").body.decode().splitlines():
        if line.startswith('feeds_publishes_total{result="failed"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_full_or_read_only_snapshot_dir_is_answered_truthfully_and_logged_once_per_cause(tmp_path: Path, small_disk: Path) -> None:
    content, config = _site(tmp_path)
    snapshot = small_disk / "snapshot"
    server = Production(content, config, env=_env(snapshot))
    try:
        _up(server)
        etag = server.request("/feed.xml").headers["etag"]

        filler = fill(small_disk)  # not a byte left
        _edit(content, f"{TITLE} (disk full)")
        for attempt in (1, 2):
            status, answer = _rebuild(server)
            assert status == 503 and answer["status"] == "failed" and answer["changed"] is False, (attempt, answer)
            assert "No space left on device" in str(answer["error"]) and str(snapshot) in str(answer["error"]), answer
            assert server.request("/feed.xml").headers["etag"] == etag  # the previous snapshot, on every worker
        assert len(server.events("publish_failed")) == 1, "the cause is logged once, not at every attempt"
        assert _failed_attempts(server) >= 2, "every attempt is counted"
        filler.unlink()
        status, answer = _rebuild(server)
        assert (status, answer["status"], answer["changed"]) == (200, "done", True), answer
        (recovered,) = server.events("recovered")
        assert "after=publish_failed" in recovered and "No space left on device" in recovered

        with read_only(snapshot):
            _edit(content, f"{TITLE} (read-only)")
            for attempt in (1, 2):
                status, answer = _rebuild(server)
                assert status == 503 and "Read-only file system" in str(answer["error"]), (attempt, answer)
            assert len(server.events("publish_failed")) == 2, "a new cause is logged, once"
        status, answer = _rebuild(server)
        assert (status, answer["status"]) == (200, "done"), answer
        assert len(server.events("recovered")) == 2
        assert f"{TITLE} (read-only)" in server.request("/feed.xml").body.decode()
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(errors="replace")
