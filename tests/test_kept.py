"""Nothing published is lost across restarts; only a deliberate act unpublishes.

A published post whose file breaks keeps being served in its last good version,
byte for byte, by ``feeds serve`` and by gunicorn, across a restart, a reload, a
new builder and another host started from a copy of the snapshot folder; /healthz
and ``feeds check`` say which post and since when. Deleting a post removes it; an
emptied or vanished content folder keeps the snapshot, and ``feeds empty`` publishes
an empty site on purpose. Every server is a real process scanning every second.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds.fsutil import exchange
from feeds.snapshot import store as store_module
from feeds.web.app import stop

from .conftest import SAMPLE, SITE_CONFIG
from .server import ServerProcess
from .test_gunicorn import Gunicorn
from .waiting import wait_until
from .wellformed import titles

POST = "2026-05-02-three-layers-of-idempotency.md"
TITLE = "Three Layers of Idempotency"
FEEDS = ("/feed.xml", "/atom.xml", "/feed.json", "/tags/idempotency/feed.xml", "/tags/idempotency/", "/")
#: One site URL for every server of a test, whatever its port: the bytes must not depend on it.
SITE_URL = "http://feeds.example"


def site(root: Path) -> tuple[Path, Path]:
    """A copy of the sample content and a settings file under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    return root / "content", root / "feeds.toml"


def settings(snapshot: Path) -> dict[str, str]:
    return {"FEEDS_SNAPSHOT_DIR": str(snapshot), "FEEDS_SITE_URL": SITE_URL, "FEEDS_SCAN_INTERVAL": "1", "FEEDS_POLL_LIMIT": "0"}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    wait_until(condition, timeout, what)


def _scanned_since(server: ServerProcess, moment: datetime) -> bool:
    """Whether the builder has finished a scan that began after ``moment`` (and is idle again)."""
    state = health(server)
    last = state["last_scan"]
    return bool(last) and datetime.fromisoformat(last) > moment and state["builder_activity"] == "idle"


def wait_everywhere(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition`` holds on several requests in a row: each worker swaps within POLL of a publish."""
    wait_for(lambda: all(condition() for _ in range(6)), what)


def health(server: ServerProcess) -> dict[str, Any]:
    return dict(json.loads(server.request("/healthz").body))


def served(server: ServerProcess) -> dict[str, str]:
    """The ETag of each of FEEDS (checked against its bytes)."""
    etags = {}
    for path in FEEDS:
        reply = server.request(path)
        assert reply.status == 200, (path, reply.status)
        etags[path] = reply.headers["etag"]
    return etags


def feed_titles(server: ServerProcess) -> list[str]:
    return titles("feed.json", server.request("/feed.json").body)


def events(server: ServerProcess, name: str) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if f" event={name} " in line + " "]


def break_post(content: Path) -> None:
    break_post_file(content / POST)


def break_post_file(source: Path) -> None:
    """A half-saved edit: the title's closing quote is lost (invalid YAML)."""
    text = source.read_text()
    source.write_text(re.sub(r'title: "([^"]*)"', lambda m: f'title: "{m[1]}\nsummary: half saved', text, count=1))


def kept(server: ServerProcess) -> list[dict[str, Any]]:
    return list(health(server)["kept"])


def check_kept(server: ServerProcess, before: dict[str, str], since: str) -> None:
    """``server`` serves the last good version, byte for byte, and says so with the same ``since``."""
    state = health(server)
    assert state["status"] == "degraded"
    assert [(k["path"], k["title"], k["since"]) for k in state["kept"]] == [(POST, TITLE, since)], state["kept"]
    assert "invalid YAML" in state["kept"][0]["reason"]
    assert served(server) == before
    assert TITLE in feed_titles(server)


def feeds_command(*args: str, snapshot: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")} | {"FEEDS_SNAPSHOT_DIR": str(snapshot)}
    environ["FEEDS_SITE_URL"] = SITE_URL
    return subprocess.run([sys.executable, "-m", "feeds", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60)


def test_feeds_serve_keeps_a_broken_post_across_a_restart_until_it_is_deleted(tmp_path: Path) -> None:
    content, config = site(tmp_path)
    snapshot = tmp_path / "snapshot"
    with ServerProcess(content, config, env=settings(snapshot)) as server:
        before = served(server)
        break_post(content)
        wait_everywhere(lambda: bool(kept(server)), "the broken post to be kept")
        since = kept(server)[0]["since"]
        check_kept(server, before, since)

    with ServerProcess(content, config, env=settings(snapshot)) as server:
        check_kept(server, before, since)
        wait_for(lambda: bool(events(server, "adopt")), "the new builder to adopt the snapshot")
        assert not events(server, "rebuild")  # restored, not read again

        result = feeds_command("check", "--content", str(content), "--config", str(config), snapshot=snapshot, cwd=tmp_path)
        assert result.returncode == 1  # the file itself is still broken
        assert f"{POST}:1: served from its last good version since {since} (" in result.stdout, result.stdout

        # Deleting the post is deliberate: it goes at the next scan, last good version and all.
        (content / POST).unlink()
        wait_for(lambda: health(server)["status"] == "ok", "the deleted post to go")
        assert health(server)["kept"] == [] and health(server)["posts"] == 20
        assert not [t for t in feed_titles(server) if t.startswith(TITLE)]


def test_gunicorn_keeps_a_broken_post_across_a_reload_a_new_builder_and_another_host(tmp_path: Path) -> None:
    first = tmp_path / "first"
    content, _ = site(first)
    snapshot = first / "snapshot"
    server = Gunicorn(first, env=settings(snapshot), workers=2)
    try:
        server.start()
        before = served(server)
        break_post(content)
        wait_everywhere(lambda: bool(kept(server)), "the broken post to be kept")
        since = kept(server)[0]["since"]
        check_kept(server, before, since)

        rebuilds = len(server.events("rebuild"))  # the first build, and the one that kept the post
        old = server.workers()
        server.process.send_signal(signal.SIGHUP)  # a reload: new workers, a new builder among them
        wait_for(lambda: not (server.workers() & old) and len(server.workers()) == 2, "the reload")
        wait_for(lambda: health(server)["builder_pid"] in server.workers(), "a new builder")
        check_kept(server, before, since)

        builder = int(health(server)["builder_pid"])
        killed = datetime.now(UTC)
        os.kill(builder, signal.SIGKILL)  # a crash: another worker becomes the builder
        wait_for(lambda: health(server)["builder_pid"] not in (None, builder), "the next builder")
        wait_for(lambda: _scanned_since(server, killed), "the next builder's first scan")
        check_kept(server, before, since)
        assert len(server.events("rebuild")) == rebuilds  # the new builders adopted what was published
    finally:
        server.stop()

    # Another host: the snapshot folder and the content copied elsewhere (other paths, inodes and mtimes).
    second = tmp_path / "second"
    second.mkdir()
    shutil.copytree(content, second / "content")
    shutil.copy(first / "feeds.toml", second / "feeds.toml")
    shutil.copytree(snapshot, second / "snapshot", symlinks=True)
    other = Gunicorn(second, env=settings(second / "snapshot"), workers=2)
    try:
        other.start()
        wait_for(lambda: bool(other.events("adopt")), "the other host's builder to adopt the snapshot")
        check_kept(other, before, since)
        (second / "content" / POST).unlink()
        wait_for(lambda: health(other)["status"] == "ok", "the deleted post to go")
        wait_everywhere(lambda: not [t for t in feed_titles(other) if t.startswith(TITLE)], "every worker to drop it")
    finally:
        other.stop()


def test_an_empty_or_vanished_folder_keeps_the_snapshot_until_feeds_empty_says_otherwise(tmp_path: Path) -> None:
    content, config = site(tmp_path)
    snapshot = tmp_path / "snapshot"
    with ServerProcess(content, config, env=settings(snapshot)) as server:
        before = served(server)

        content.rename(tmp_path / "away")  # vanished (an unmounted volume, a bad deploy)
        wait_for(lambda: health(server)["error"] is not None, "the scan of a vanished folder to fail")
        state = health(server)  # one answer: status and error read together
        assert state["status"] == "degraded" and str(content) in state["error"], state
        assert served(server) == before
        (tmp_path / "away").rename(content)
        wait_for(lambda: health(server)["status"] == "ok", "the folder to come back")

        # Emptied of posts (the media folder left), in one step: the folder and an emptied copy swap names (renameat2).
        # (Not its files deleted one by one: file-system events publish each deletion as it comes, as they should.)
        shutil.copytree(content, tmp_path / "emptied", ignore=shutil.ignore_patterns("*.md"))
        exchange(tmp_path / "emptied", content)
        wait_for(lambda: health(server)["error"] is not None, "the scan of an empty folder to fail")
        assert "feeds empty" in health(server)["error"]
        assert served(server) == before and health(server)["posts"] == 21

        result = feeds_command("empty", "--content", str(content), "--config", str(config), snapshot=snapshot, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: health(server)["posts"] == 0, "the empty site to be published")
        assert health(server)["status"] == "ok"
        assert feed_titles(server) == []
        assert server.request("/feed.xml").headers["etag"] != before["/feed.xml"]
        assert server.request("/tags/idempotency/feed.xml").status == 404

        # Empty on purpose is not a lock: the next post is published as usual.
        shutil.copy(SAMPLE / POST, content / POST)
        wait_for(lambda: health(server)["posts"] == 1, "the new post to be published")
        assert feed_titles(server) == [TITLE]


def test_the_version_kept_after_a_restart_is_the_one_published_last_even_by_a_retry(
    make_app: Callable[..., Flask], content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = str(tmp_path / "kept-snapshot")
    app = make_app(snapshot_dir=snapshot)
    runtime = app.extensions["feeds"]
    source = content / POST
    source.write_text(source.read_text().replace(f'title: "{TITLE}"', f'title: "{TITLE}, revised"', 1))
    with monkeypatch.context() as patch:  # the publish of the revision fails once (a full disk) ...
        patch.setattr(store_module, "sync_filesystem", _failing_flush)
        assert runtime.builder_run() is False
    assert runtime.builder_run() is True  # ... and the next scan publishes it, with no file changed since
    stop(app)

    break_post_file(source)
    again = make_app(snapshot_dir=snapshot)
    assert [k.title for k in again.extensions["feeds"].current.kept] == [f"{TITLE}, revised"]
    assert f"{TITLE}, revised" in again.test_client().get("/feed.xml").get_data(as_text=True)


def _failing_flush(folder: Path) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))
