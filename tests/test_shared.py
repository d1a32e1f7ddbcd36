"""One builder per host: it publishes to snapshot_dir, the others load; the role moves when its holder stops."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds import log
from feeds.errors import ConfigError
from feeds.service.shared import CURRENT, Shared
from feeds.web.app import create_app

from .test_websub import Hub


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every log event from now on, with its fields."""
    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(log, "_observers", [*log._observers, lambda name, fields: seen.append((name, fields))])
    return seen


@pytest.fixture
def worker(content: Path, config_file: Path, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Start an app in shared mode, as a gunicorn worker does; all share one snapshot_dir."""
    apps: list[Flask] = []

    def start(**overrides: Any) -> Flask:
        settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "snap"), **overrides}
        app = create_app(settings, config_file=config_file, env={}, shared=True)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.extensions["feeds"].stop()


def _shared(app: Flask) -> Shared:
    shared: Shared | None = app.extensions["feeds"].shared
    assert shared is not None
    return shared


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _first(worker: Callable[..., Flask]) -> Flask:
    """Start the first worker and wait until it has built and published."""
    app = worker()
    _wait(lambda: (_shared(app).folder / "status.json").exists())
    return app


def _version(app: Flask) -> str | None:
    snapshot = app.extensions["feeds"].store.current
    return snapshot.version if snapshot else None


def _edit(content: Path) -> None:
    post = next(content.glob("2026-05-02-*.md"))
    post.write_text(post.read_text().replace("Three Layers of Idempotency", "Three Layers of Idempotency, Revisited"))


def _count(events: list[tuple[str, dict[str, Any]]], name: str) -> int:
    return sum(1 for event, _ in events if event == name)


def test_one_worker_builds_and_publishes_and_the_other_loads_the_same_bytes(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    leader = _first(worker)
    follower = worker()
    assert _shared(leader).is_leader and not _shared(follower).is_leader
    assert _version(follower) == _version(leader)  # loaded at start, before any request
    assert _count(events, "rebuild") == 1
    a, b = leader.extensions["feeds"].store.current, follower.extensions["feeds"].store.current
    assert a.bodies.keys() == b.bodies.keys()
    assert all(a.bodies[k].data == b.bodies[k].data and a.bodies[k].etag == b.bodies[k].etag for k in a.bodies)
    assert (tmp_path / "snap" / CURRENT).is_symlink()
    assert (tmp_path / "snap" / CURRENT / "feed.xml").read_bytes() == a.bodies[("/feed.xml", 1)].data
    health = follower.test_client().get("/healthz").get_json()
    assert health["role"] == "follower" and health["builder_pid"] == health["pid"] and health["status"] == "ok"


def test_a_change_is_built_once_and_reaches_the_follower(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]], content: Path
) -> None:
    leader = _first(worker)
    follower = worker()
    before = _version(follower)
    _edit(content)
    assert leader.extensions["feeds"].builder.rescan()
    _shared(follower).poll()
    assert _version(follower) == _version(leader) != before
    assert b"Revisited" in follower.test_client().get("/feed.xml").data
    assert _count(events, "rebuild") == 2
    assert _count(events, "publish") == 2


def test_a_rescan_asked_of_a_follower_runs_in_the_builder(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]], content: Path
) -> None:
    leader = _first(worker)
    follower = worker()
    _edit(content)
    assert follower.extensions["feeds"].builder.rescan() is True  # waits for the builder's scan
    assert _version(follower) == _version(leader)
    assert _count(events, "rebuild") == 2


def test_the_next_worker_takes_over_without_rebuilding_then_builds_the_next_change(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]], content: Path
) -> None:
    leader = _first(worker)
    follower = worker()
    leader.extensions["feeds"].stop()
    _shared(follower).poll()
    assert _shared(follower).is_leader
    _wait(lambda: _count(events, "adopt") == 1)
    assert _count(events, "rebuild") == 1
    _edit(content)
    assert follower.extensions["feeds"].builder.rescan()
    assert _count(events, "rebuild") == 2


def test_a_restart_serves_the_published_snapshot_at_once_and_adopts_it(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]]
) -> None:
    first = _first(worker)
    version = _version(first)
    first.extensions["feeds"].stop()
    again = worker()
    assert _version(again) == version  # served before any scan
    _wait(lambda: _count(events, "adopt") == 1)
    assert _count(events, "rebuild") == 1


def test_new_settings_rebuild_instead_of_adopting(worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]]) -> None:
    first = _first(worker)
    first.extensions["feeds"].stop()
    again = worker(title="Renamed Notes")
    _wait(lambda: _count(events, "rebuild") == 2)
    assert _count(events, "adopt") == 0
    _wait(lambda: b"Renamed Notes" in again.test_client().get("/atom.xml").data)


def test_the_builder_status_reaches_follower_health(worker: Callable[..., Flask], tmp_path: Path) -> None:
    leader = _first(worker)
    follower = worker()
    status = json.loads((tmp_path / "snap" / "status.json").read_text())
    assert status["pid"] == _shared(leader).builder_pid
    assert follower.test_client().get("/healthz").get_json()["last_scan"] == status["last_scan"]


def test_a_snapshot_dir_others_can_write_is_refused(content: Path, config_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ConfigError) as error:
        create_app({"content_dir": str(content), "snapshot_dir": str(folder)}, config_file=config_file, env={}, shared=True)
    assert error.value.key == "snapshot_dir"


def test_a_follower_that_cannot_load_keeps_serving_and_says_degraded(worker: Callable[..., Flask], tmp_path: Path) -> None:
    leader = _first(worker)
    follower = worker()
    version = _version(follower)
    torn = tmp_path / "snap" / "snapshot-torn"
    torn.mkdir()
    (torn / "manifest.json").write_text("{not json")
    link = tmp_path / "snap" / ".current-test"
    link.symlink_to(torn.name)
    link.replace(tmp_path / "snap" / CURRENT)
    _shared(follower).poll()
    assert _version(follower) == version
    health = follower.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["status"] == "degraded" and "cannot load" in health.get_json()["error"]
    assert follower.test_client().get("/feed.xml").status_code == 200
    assert _version(leader) == version


def test_only_the_builder_pings_the_hub_once_per_changed_feed(worker: Callable[..., Flask], content: Path) -> None:
    hub = Hub()
    try:
        leader = _first(lambda **kw: worker(websub_hubs=[hub.url], **kw))
        follower = worker(websub_hubs=[hub.url])
        _edit(content)
        assert follower.extensions["feeds"].builder.rescan()  # asked of a follower, built by the builder
        assert leader.extensions["feeds"].publisher.wait_idle(10)
        topics = hub.topics()
        assert topics and len(topics) == len(set(topics))
        assert "http://127.0.0.1:8000/feed.xml" in topics
        assert follower.extensions["feeds"].publisher.sent == 0
    finally:
        hub.close()


def test_post_rebuild_to_any_worker_builds_once_in_the_builder(
    worker: Callable[..., Flask], events: list[tuple[str, dict[str, Any]]], content: Path
) -> None:
    leader = _first(lambda **kw: worker(rebuild_token="t0ken", **kw))
    follower = worker(rebuild_token="t0ken")
    _edit(content)
    reply = follower.test_client().post("/-/rebuild", headers={"Authorization": "Bearer t0ken"})
    assert reply.status_code == 200 and reply.get_json()["changed"] is True
    assert reply.get_json()["version"] == _version(leader) == _version(follower)
    assert _count(events, "rebuild") == 2
