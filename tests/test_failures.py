"""Nothing is lost: broken edits, a vanished folder and failing rebuilds never change what is served.

Live tests run a real server with a one-second scan interval and change the
content folder under it; the rest drive the builder and the scheduler in-process.
"""

from __future__ import annotations

import http.client
import json
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds.service.builder import Builder
from feeds.web.app import create_app, stop

from .builds import Records
from .corpus import without_dac_override
from .server import ServerProcess
from .waiting import wait_until
from .wellformed import titles

POST = "2026-05-02-three-layers-of-idempotency.md"
TITLE = "Three Layers of Idempotency"


@pytest.fixture
def live(content: Path, config_file: Path) -> Iterator[ServerProcess]:
    """A real server that rescans every second."""
    with ServerProcess(content, config_file, env={"FEEDS_SCAN_INTERVAL": "1"}, preexec_fn=without_dac_override) as server:
        yield server


def fetch(server: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def feed_titles(server: ServerProcess) -> list[str]:
    return titles("feed.json", fetch(server, "/feed.json")[2])


def health(server: ServerProcess) -> dict[str, Any]:
    return dict(json.loads(fetch(server, "/healthz")[2]))


#: Seconds to wait for what a scan does: one is due every second.
SCAN_WAIT = 20.0

FEEDS = ("/feed.xml", "/atom.xml", "/feed.json", "/tags/idempotency/feed.xml", "/tags/idempotency/feed.json")


def etags(server: ServerProcess) -> dict[str, str]:
    return {path: fetch(server, path)[1]["ETag"] for path in FEEDS}


def test_broken_edit_keeps_the_last_good_version(live: ServerProcess, content: Path) -> None:
    before = etags(live)
    assert health(live)["status"] == "ok"
    source = content / POST
    good = source.read_text(encoding="utf-8")

    # A half-saved edit: the title's closing quote is lost.
    source.write_text(good.replace(f'title: "{TITLE}"', f'title: "{TITLE}\nsummary: half saved', 1), encoding="utf-8")
    wait_until(lambda: any(p.startswith(f"{POST}:") for p in health(live)["problems"]), SCAN_WAIT, "the broken post to be reported")

    state = health(live)
    assert state["status"] == "degraded"
    assert any(p.startswith(f"{POST}:") and "invalid YAML" in p for p in state["problems"]), state["problems"]
    assert f"{POST}:1: serving the last good version of this post until the file is fixed" in state["problems"]
    assert etags(live) == before  # byte for byte the same feeds
    assert TITLE in feed_titles(live)

    # Fixed: the new version replaces the old one, and the report goes away.
    source.write_text(good.replace(f'title: "{TITLE}"', f'title: "{TITLE}, revised"', 1), encoding="utf-8")
    wait_until(lambda: health(live)["status"] == "ok", SCAN_WAIT, "the fixed post to clear the report")
    assert f"{TITLE}, revised" in feed_titles(live) and TITLE not in feed_titles(live)
    assert not any(p.startswith(f"{POST}:") for p in health(live)["problems"])

    # Broken again, then deleted: a deleted post goes, last good version or not.
    source.write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    wait_until(lambda: health(live)["status"] == "degraded", SCAN_WAIT, "the broken post to be reported")
    source.unlink()
    wait_until(lambda: health(live)["status"] == "ok", SCAN_WAIT, "the deleted post to clear the report")
    assert not [t for t in feed_titles(live) if t.startswith(TITLE)]


def test_vanished_content_folder_keeps_serving_the_last_snapshot(live: ServerProcess, content: Path) -> None:
    before = etags(live)
    version = health(live)["version"]
    moved = content.with_name("content-away")
    for how in ("removed", "emptied", "unreadable"):
        if how == "removed":
            content.rename(moved)
        elif how == "emptied":  # what an unmounted volume leaves: an empty mount point, there at once
            # (Not its files deleted one by one: file-system events publish each deletion as it comes, as they should.)
            content.rename(moved)
            content.mkdir()
        else:
            content.chmod(0)  # the server runs without root's power to ignore file modes

        wait_until(lambda: health(live)["error"] is not None, SCAN_WAIT, f"the scan of a {how} folder to fail")
        state = health(live)
        assert state["status"] == "degraded", how
        assert state["version"] == version and state["posts"] == 21, how
        assert str(content) in state["error"], how
        assert etags(live) == before, how

        if how == "unreadable":
            content.chmod(0o755)
        else:
            shutil.rmtree(content, ignore_errors=True)
            moved.rename(content)
        wait_until(lambda: health(live)["status"] == "ok", SCAN_WAIT, f"the {how} folder to come back")
        assert etags(live) == before, how


# In-process: a failing rebuild and a failing scheduled job.


@pytest.fixture
def records() -> Iterator[Records]:
    """Log records of the ``feeds`` logger; call ``listen()`` after creating the app (it resets handlers)."""
    handler = Records()
    yield handler
    logging.getLogger("feeds").removeHandler(handler)


def listen(handler: Records) -> None:
    logging.getLogger("feeds").addHandler(handler)


def test_failing_rebuild_never_replaces_the_snapshot(
    make_app: Callable[..., Flask], content: Path, monkeypatch: pytest.MonkeyPatch, records: Records
) -> None:
    app = make_app()
    listen(records)
    client = app.test_client()
    state = app.extensions["feeds"]
    served = state.current
    etag = client.get("/feed.xml").headers["ETag"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(state.builder.renderer, "docs", broken)
    (content / POST).write_text("---\ntitle: Changed\ndate: 2026-05-02\n---\nNew body.\n", encoding="utf-8")
    assert state.builder.rescan() is False
    assert state.current is served
    assert client.get("/feed.xml").headers["ETag"] == etag
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["status"] == "degraded" and "renderer exploded" in health.json["error"]
    assert any(r.getMessage() == "rebuild_failed" for r in records.records)

    monkeypatch.undo()
    assert state.builder.rescan() is True  # the next scan retries and recovers
    assert client.get("/healthz").json["status"] == "ok"
    assert "Changed" in client.get("/feed.xml").get_data(as_text=True)


def test_exception_in_the_scheduled_job_is_logged_and_the_schedule_continues(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, records: Records, content: Path, config_file: Path, tmp_path: Path
) -> None:
    calls: list[int] = []
    real = Builder.rescan

    def flaky(self: Builder, force: bool = False) -> bool:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError(f"boom {len(calls)}")
        return real(self, force)

    app = make_app(scan_interval=1)  # built once, no schedule
    listen(records)
    monkeypatch.setattr(Builder, "rescan", flaky)
    settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "scheduled"), "scan_interval": 1}
    scheduled = create_app(settings, config_file=config_file, env={}, schedule=True)
    try:
        wait_until(lambda: len(calls) >= 3, SCAN_WAIT, "the schedule to go on after two failures")
        failures = [r for r in records.records if r.getMessage() == "scheduled rescan failed"]
        assert len(failures) >= 2 and failures[0].exc_info is not None
        assert "boom 1" in str(failures[0].exc_info[1])
        assert scheduled.test_client().get("/feed.xml").status_code == 200
        assert app.test_client().get("/feed.xml").status_code == 200
    finally:
        stop(scheduled)


def test_no_snapshot_ever_built_is_503(make_app: Callable[..., Flask], content: Path, tmp_path: Path) -> None:
    app = make_app(content_dir=str(tmp_path / "missing"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").json["status"] == "degraded"
    assert client.get("/feed.xml").status_code == 503
