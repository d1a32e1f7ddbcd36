"""One builder per host, the other workers follow: same bytes, one build per change, the role moves when its holder goes.

Most tests start several apps on one ``snapshot_dir`` in this process, as
gunicorn's workers would (the lock is a real flock, the followers reach the
builder over its real socket); the tests about processes run real gunicorn
workers (``tests/gated_wsgi.py`` holds the older pages back so a follower can
be seen asking for one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds.errors import ConfigError
from feeds.fsutil import exchange
from feeds.service.roles import Leader
from feeds.service.runtime import Runtime
from feeds.snapshot.store import CURRENT
from feeds.web.app import create_app, stop

from .builds import Events, record_events, wait_until
from .conftest import SITE_CONFIG, published
from .server import ROOT, Reply, ServerProcess, WsgiServer
from .test_websub import Hub

EDITED = "2026-05-02-three-layers-of-idempotency.md"
TOKEN = "t0ken"


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    return record_events(monkeypatch)


@pytest.fixture
def worker(content: Path, config_file: Path, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Start an app on the shared ``tmp_path/snap``, as a gunicorn worker does; keyword arguments go to create_app."""
    apps: list[Flask] = []

    def start(schedule: bool | None = None, wait: bool | None = None, **overrides: Any) -> Flask:
        settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "snap"), **overrides}
        app = create_app(settings, config_file=config_file, env={}, schedule=schedule, wait=wait)
        apps.append(app)
        return app

    yield start
    for app in apps:
        stop(app)


def _runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["feeds"]
    return runtime


def _version(app: Flask) -> str | None:
    return _runtime(app).version()


def _edit(content: Path, marker: str = "Revisited") -> None:
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8").replace("Three Layers of Idempotency", f"Three Layers, {marker}"), encoding="utf-8")


# -- in one process ------------------------------------------------------------------------


def test_one_worker_builds_and_the_other_serves_the_same_bytes(worker: Callable[..., Flask], events: Events, tmp_path: Path) -> None:
    leader = worker()
    follower = worker()
    assert _runtime(leader).role.name == "builder" and _runtime(follower).role.name == "follower"
    assert _runtime(follower).builder is None
    assert _runtime(follower).current == _runtime(leader).current
    assert published(follower) == published(leader)
    for path in ("/feed.xml", "/tags/go/atom.xml", "/"):
        a, b = leader.test_client().get(path), follower.test_client().get(path)
        assert (a.status_code, a.data, a.headers["ETag"], a.headers["Last-Modified"]) == (
            b.status_code,
            b.data,
            b.headers["ETag"],
            b.headers["Last-Modified"],
        ), path
    assert events.count("rebuild") == 1
    current = _runtime(leader).current
    assert current is not None and os.readlink(tmp_path / "snap" / CURRENT) == f"manifests/{current.name()}"
    status = json.loads((tmp_path / "snap" / "status.json").read_text(encoding="utf-8"))
    health = follower.test_client().get("/healthz").get_json()
    assert health["role"] == "follower" and health["status"] == "ok"
    assert health["builder_pid"] == status["pid"] == os.getpid() and health["last_scan"] == status["last_scan"]


def test_a_change_is_built_once_and_reaches_the_follower_within_a_second(
    worker: Callable[..., Flask], events: Events, content: Path
) -> None:
    leader = worker()
    follower = worker()
    before = _version(follower)
    _edit(content)
    assert _runtime(leader).builder_run()
    version = _version(leader)
    assert version != before
    assert _runtime(follower).follow_until(str(version), timeout=1.0), "the follower serves it within a second"
    lag = _runtime(follower).served_since - _runtime(leader).served_since  # type: ignore[operator]
    assert lag.total_seconds() < 1.0
    assert b"Three Layers, Revisited" in follower.test_client().get("/feed.xml").data
    assert published(follower) == published(leader)
    # The first build in two steps (post pages last), the edit too (its archive pages right after its page 1s).
    assert events.count("rebuild") == 2 and events.count("publish") == 4


def test_a_follower_that_has_not_looked_yet_serves_what_was_just_published(worker: Callable[..., Flask]) -> None:
    """The builder's status says it scanned, but this worker's watcher has not read ``current`` yet: never a 503."""
    worker()
    follower = worker()
    runtime = _runtime(follower)
    runtime._stop.set()  # hold its watcher still: it looks every POLL, a request may come in between
    assert runtime._watcher is not None
    runtime._watcher.join()
    runtime.served.forget()
    runtime._read_status()
    assert runtime.builder_status().last_scan is not None and runtime.builder_status().error is None
    answer = follower.test_client().get("/feed.xml")
    assert answer.status_code == 200, answer.data


def test_a_follower_asks_the_builder_for_a_pending_page(worker: Callable[..., Flask], events: Events) -> None:
    leader = worker(wait=False, items_per_feed=2)  # builds nothing by itself: the test drives it
    builder = _runtime(leader).builder
    assert builder is not None and builder.rescan()  # page 1s only
    follower = worker(wait=False, items_per_feed=2)
    assert _runtime(follower).role.name == "follower"
    assert _runtime(follower).wait_for(lambda m: m is not None and bool(m.pending), 5.0)
    path = "/tags/go/archive/1/feed.xml"
    assert path in _runtime(follower).current.pending  # type: ignore[union-attr]

    answer = follower.test_client().get(path)
    assert answer.status_code == 200
    assert builder.complete()
    assert _runtime(follower).follow_until(builder.manifest.version, 5.0)  # type: ignore[union-attr]
    assert _runtime(follower).wait_for(lambda m: m is not None and m.complete, 5.0)
    item = _runtime(follower).current.items[path]  # type: ignore[union-attr]
    assert answer.headers["ETag"] == item.etag
    assert answer.headers["Last-Modified"] == follower.test_client().get(path).headers["Last-Modified"]
    assert answer.data == _runtime(follower).store.read(item.etag)
    assert events.count("rebuild") == 1


def test_post_rebuild_to_a_follower_rebuilds_once_in_the_builder(worker: Callable[..., Flask], events: Events, content: Path) -> None:
    leader = worker(rebuild_token=TOKEN)
    follower = worker(rebuild_token=TOKEN)
    _edit(content)
    reply = follower.test_client().post("/-/rebuild", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.data
    assert reply.get_json()["changed"] is True
    assert reply.get_json()["version"] == _version(leader) == _version(follower)
    assert events.count("rebuild") == 2
    again = follower.test_client().post("/-/rebuild", headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.status_code == 200 and again.get_json()["changed"] is False
    assert events.count("rebuild") == 2


def test_the_next_worker_takes_over_without_rebuilding_and_builds_the_next_change(
    worker: Callable[..., Flask], events: Events, content: Path
) -> None:
    leader = worker(schedule=True)
    follower = worker(schedule=True)
    served = published(follower)
    stop(leader)  # gunicorn recycles the builder's worker
    wait_until(lambda: isinstance(_runtime(follower).role, Leader), 5.0, "takeover")
    wait_until(lambda: events.count("adopt") == 1, 10.0, "adopt")
    assert events.count("rebuild") == 1
    assert published(follower) == served and follower.test_client().get("/feed.xml").status_code == 200
    _edit(content)
    _runtime(follower).builder_run()  # (the new builder's file-system events may have published the edit already)
    wait_until(lambda: events.count("rebuild") == 2, 5.0, "the new builder to publish the edit")


def test_a_restart_serves_the_published_snapshot_at_once_and_adopts_it(worker: Callable[..., Flask], events: Events) -> None:
    first = worker()
    version, served = _version(first), published(first)
    stop(first)
    again = worker(wait=False)
    builder = _runtime(again).builder
    assert builder is not None and builder.last_scan is None, "no scan yet"
    assert _version(again) == version and published(again) == served
    assert again.test_client().get("/atom.xml").status_code == 200
    assert _runtime(again).builder_run() is False
    assert events.count("adopt") == 1 and events.count("rebuild") == 1


def test_a_builder_that_has_just_taken_over_or_builds_for_long_is_not_reported_stuck(worker: Callable[..., Flask]) -> None:
    first = worker(scan_interval=1)
    stop(first)
    stale = datetime.now(UTC) - timedelta(hours=1)  # the last scan, by the builder before a long restart
    again = worker(wait=False, scan_interval=1)  # its builder has not scanned yet (no schedule here)
    follower = worker(wait=False, scan_interval=1)
    builder = _runtime(again).builder
    assert builder is not None and builder.last_scan is None
    builder.last_scan = stale
    for app in (again, follower):
        wait_until(lambda app=app: app.test_client().get("/healthz").get_json()["builder_activity"] == "starting", 5.0, "the status")
        health = app.test_client().get("/healthz").get_json()
        assert health["status"] == "ok" and health["builder_since"], health
    # A long build: the builder renders since an hour, and made progress a moment ago.
    builder.activity.name, builder.activity.since = "rendering", stale
    builder.activity.step()  # progress, now
    _runtime(again).role.write_status()  # type: ignore[attr-defined]
    for app in (again, follower):
        wait_until(lambda app=app: app.test_client().get("/healthz").get_json()["builder_activity"] == "rendering", 5.0, "the status")
        health = app.test_client().get("/healthz").get_json()
        assert health["status"] == "ok", health["error"]
    # The same build with no progress for three scan intervals is reported: it is stuck.
    builder.activity.progress = stale
    _runtime(again).role.write_status()  # type: ignore[attr-defined]
    for app in (again, follower):
        wait_until(lambda app=app: app.test_client().get("/healthz").get_json()["status"] == "degraded", 5.0, "the alarm")
        error = app.test_client().get("/healthz").get_json()["error"]
        assert "the builder has made no progress for 3 scan intervals (rendering since" in error


def test_new_settings_rebuild_instead_of_adopting(worker: Callable[..., Flask], events: Events) -> None:
    first = worker()
    version = _version(first)
    stop(first)
    again = worker(title="Renamed Notes")
    assert events.count("rebuild") == 2 and events.count("adopt") == 0
    assert _version(again) != version
    assert b"Renamed Notes" in again.test_client().get("/atom.xml").data


def test_a_snapshot_dir_others_can_write_is_refused(content: Path, config_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ConfigError) as error:
        create_app({"content_dir": str(content), "snapshot_dir": str(folder)}, config_file=config_file, env={})
    assert error.value.key == "snapshot_dir"
    assert str(folder) in str(error.value) and "writable by other users" in str(error.value)


def test_a_follower_that_cannot_read_the_published_manifest_keeps_serving_and_says_degraded(
    worker: Callable[..., Flask], content: Path, tmp_path: Path
) -> None:
    leader = worker()
    follower = worker()
    version, etag = _version(follower), follower.test_client().get("/feed.xml").headers["ETag"]
    snap = tmp_path / "snap"
    (snap / "manifests" / "99999999-torn.json").write_text('{"format": 2, "version": "torn', encoding="utf-8")
    (snap / ".current-test").symlink_to("manifests/99999999-torn.json")
    os.replace(snap / ".current-test", snap / CURRENT)

    wait_until(lambda: _runtime(follower).load_error is not None, 5.0, "the follower tried to load it")
    assert _version(follower) == version
    health = follower.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["status"] == "degraded"
    assert "cannot load the published snapshot" in health.get_json()["error"] and "99999999-torn.json" in health.get_json()["error"]
    reply = follower.test_client().get("/feed.xml")
    assert (reply.status_code, reply.headers["ETag"]) == (200, etag)

    _edit(content)
    assert _runtime(leader).builder_run()  # the next publish heals it
    assert _runtime(follower).follow_until(str(_version(leader)), 5.0)
    assert follower.test_client().get("/healthz").get_json()["status"] == "ok"


def test_only_the_builder_pings_the_hub(worker: Callable[..., Flask], content: Path) -> None:
    hub = Hub()
    try:
        leader = worker(websub_hubs=[hub.url], rebuild_token=TOKEN)
        follower = worker(websub_hubs=[hub.url], rebuild_token=TOKEN)
        assert leader.extensions["feeds.publisher"].wait_idle(10)
        hub.pings.clear()
        _edit(content)
        reply = follower.test_client().post("/-/rebuild", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reply.status_code == 200 and reply.get_json()["changed"] is True
        assert leader.extensions["feeds.publisher"].wait_idle(10)
        topics = hub.topics()
        assert "http://127.0.0.1:8000/feed.xml" in topics and "http://127.0.0.1:8000/tags/idempotency/atom.xml" in topics
        assert len(topics) == len(set(topics)), "one ping per changed feed"
        assert "http://127.0.0.1:8000/tags/azure/feed.xml" not in topics
        assert follower.extensions["feeds.publisher"].sent == 0
    finally:
        hub.close()


# -- real gunicorn workers -------------------------------------------------------------------


class GatedGunicorn(WsgiServer):
    """gunicorn serving ``tests.gated_wsgi:app``: its builder leaves older pages pending while ``gate`` exists."""

    def __init__(self, content: Path, config: Path, gate: Path, workers: int = 3) -> None:
        env = {"GATED_BUILDER_GATE": str(gate), "FEEDS_WORKER_HEADER": "true", "FEEDS_REBUILD_TOKEN": TOKEN}
        super().__init__("gunicorn", content, config, workers=workers, env=env)

    def _run(self, argv: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        super()._run(["tests.gated_wsgi:app" if arg == "wsgi:app" else arg for arg in argv], cwd, preexec_fn)

    def events(self, name: str) -> int:
        return sum(1 for line in self.log.read_text().splitlines() if f" event={name} " in line + " ")

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.request("/healthz").body)
        return data

    def spread(self, path: str, count: int, method: str = "GET", headers: dict[str, str] | None = None) -> list[Reply]:
        """Send ``count`` requests a few at a time: a busy sync worker accepts none, so several workers answer."""
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(lambda _: self.request(path, headers=headers, method=method), range(count)))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatedGunicorn, Path]]:
    """Three gunicorn workers over a copy of the sample, two posts per page, the gate closed at start."""
    root = tmp_path_factory.mktemp("roles")
    content = root / "content"
    shutil.copytree(ROOT / "content", content)
    config = root / "feeds.toml"
    config.write_text(SITE_CONFIG.replace("items_per_feed = 20", "items_per_feed = 2"), encoding="utf-8")
    gate = root / "gate"
    gate.touch()
    server = GatedGunicorn(content, config, gate)
    try:
        yield server, gate
    finally:
        gate.unlink(missing_ok=True)
        server.stop()


def _follower_reply(replies: list[Reply], builder: int) -> Reply:
    return next(r for r in replies if int(r.headers["x-feeds-worker"]) != builder)


def test_followers_get_pending_pages_from_the_builder_and_a_killed_builder_is_replaced_without_rendering_again(
    cluster: tuple[GatedGunicorn, Path],
) -> None:
    server, gate = cluster
    builder = _agreed_builder(server)
    health = server.health()
    assert health["complete"] is False and health["pending"] > 0
    # The builder logs its rebuild once the page 1s are published and the content index saved (durably: a moment).
    wait_until(lambda: server.events("rebuild") == 1, 20.0, "the first build logged")

    page = "/archive/3/feed.xml"
    replies = server.spread(page, 24)
    assert {r.status for r in replies} == {200}
    assert len({int(r.headers["x-feeds-worker"]) for r in replies}) >= 2, "answered by several workers"
    answer = _follower_reply(replies, builder)  # a follower asked the builder for it
    assert len({(r.body, r.headers["etag"], r.headers["last-modified"]) for r in replies}) == 1
    assert server.health()["complete"] is False, "still pending: every answer was rendered on demand"
    first_pages = {r.body for r in server.spread("/feed.xml", 12)}
    assert len(first_pages) == 1

    os.kill(builder, signal.SIGKILL)  # the kernel releases its lock; another worker takes over
    assert _agreed_builder(server, other_than=builder)
    wait_until(lambda: server.events("adopt") == 1, 20.0, "the new builder adopts the published page 1s")
    assert server.events("rebuild") == 1, "nothing was rendered again"
    replies = server.spread(page, 12)
    assert {(r.status, r.body, r.headers["etag"], r.headers["last-modified"]) for r in replies} == {
        (200, answer.body, answer.headers["etag"], answer.headers["last-modified"])
    }

    gate.unlink()
    wait_until(lambda: all(json.loads(r.body)["complete"] for r in server.spread("/healthz", 12)), 20.0, "the complete snapshot")
    final = server.request(page)
    assert (final.body, final.headers["etag"], final.headers["last-modified"]) == (
        answer.body,
        answer.headers["etag"],
        answer.headers["last-modified"],
    )
    assert server.events("rebuild") == 1 and server.events("adopt") == 1
    assert "Traceback" not in server.log.read_text()


def test_post_rebuild_to_any_worker_rebuilds_once_in_the_builder(cluster: tuple[GatedGunicorn, Path]) -> None:
    server, gate = cluster
    gate.unlink(missing_ok=True)
    wait_until(lambda: server.health().get("complete") is True, 20.0, "a complete snapshot")
    builder = _agreed_builder(server)
    rebuilds = server.events("rebuild")
    version = server.health()["version"]
    _edit(server.log.parent / "content", "Rebuilt")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    replies: list[Reply] = []
    deadline = time.monotonic() + 20
    while not any(int(r.headers["x-feeds-worker"]) != builder for r in replies if r.status == 200):
        assert time.monotonic() < deadline, "no follower answered a rebuild"
        replies += server.spread("/-/rebuild", 6, method="POST", headers=auth)
    assert {r.status for r in replies} <= {200, 202}
    changed = [json.loads(r.body) for r in replies if json.loads(r.body)["changed"]]
    assert len({answer["version"] for answer in changed}) == 1 and changed[0]["version"] != version
    wait_until(lambda: {json.loads(r.body)["version"] for r in server.spread("/healthz", 12)} == {changed[0]["version"]}, 5.0, "all")
    assert server.events("rebuild") == rebuilds + 1
    assert b"Three Layers, Rebuilt" in server.request("/tags/idempotency/feed.xml").body


# -- known bugs: a snapshot folder removed under the service (rm -rf, a tmp cleaner) --------------


def test_a_removed_snapshot_folder_is_published_again(worker: Callable[..., Flask], tmp_path: Path) -> None:
    leader = worker()
    follower = worker()
    served = published(leader)
    shutil.rmtree(tmp_path / "snap")
    assert _runtime(leader).builder_run(), _runtime(leader).builder_status().error
    for app in (leader, follower):
        reply = app.test_client().get("/tags/go/feed.xml")
        assert (reply.status_code, reply.data) == (200, served["/tags/go/feed.xml"])


def test_no_worker_takes_the_lock_of_a_live_builder_whose_folder_was_made_again_by_something_else(
    worker: Callable[..., Flask], tmp_path: Path
) -> None:
    """Something that writes into the snapshot folder can make it again before the builder does: its lock is free then."""
    leader = worker()
    follower = worker()
    runtime = _runtime(follower)
    runtime._stop.set()  # this test moves the follower by hand: its watcher stops
    assert runtime._watcher is not None
    runtime._watcher.join()
    runtime._stop.clear()
    snap, fresh = tmp_path / "snap", tmp_path / "fresh"
    fresh.mkdir()
    # Made again, empty (no lock held in it), in one step: the old folder and an empty one swap names (renameat2), so
    # the builder, which inotify wakes at once, cannot make it first (two renames left it a moment to, under load).
    exchange(fresh, snap)
    assert not runtime.try_lead(), "the builder still answers on its socket: the lock is not for the taking"
    wait_until(lambda: not _runtime(leader)._lock.lost(), 5.0, "the builder to hold the lock of the folder made again")
    wait_until(lambda: (snap / "current").exists(), 10.0, "the snapshot published again")
    assert isinstance(_runtime(leader).role, Leader) and runtime.role.name == "follower"
    stop(leader)  # the thing refused above can happen: with no builder left, the follower takes the lock
    assert runtime.try_lead()


def test_a_snapshot_published_again_is_loaded_once(
    worker: Callable[..., Flask], events: Events, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = str(tmp_path / "renders")  # outside the snapshot folder: the renderings survive its removal
    leader = worker(cache_dir=cache)
    follower = worker(cache_dir=cache)
    _edit(content)
    assert _runtime(leader).builder_run()
    assert _runtime(follower).follow_until(str(_version(leader)), 5.0)
    served = _version(leader)
    shutil.rmtree(tmp_path / "snap")
    assert _runtime(leader).builder_run()
    current = _runtime(leader).store.current_name()
    # Numbered from 1 again (page 1s, then the post pages), the same version as served.
    assert current is not None and current in (f"00000001-{served}.json", f"00000002-{served}.json"), current
    polls = {app: _count_calls(monkeypatch, _runtime(app).served, "follow") for app in (leader, follower)}
    reads = {app: _count_calls(monkeypatch, _runtime(app).store, "load") for app in (leader, follower)}
    wait_until(lambda: all(_runtime(app).served.name == current for app in polls), 5.0, "every worker to look at the new manifest")
    loads, read = events.count("load"), sum(len(calls) for calls in reads.values())
    # Ten more looks of each watcher at `current`: each would read that manifest again if its name were not remembered.
    seen = {app: len(calls) for app, calls in polls.items()}
    wait_until(lambda: all(len(polls[app]) >= seen[app] + 10 for app in polls), 10.0, "ten more polls of each worker")
    assert sum(len(calls) for calls in reads.values()) == read, "the manifest published again is read once, not at every poll"
    assert events.count("load") == loads
    assert follower.test_client().get("/feed.xml").status_code == 200


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[float]:
    """Wrap ``owner.name`` (an instance's method) to record when it is called; return the record."""
    calls: list[float] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_worker_recycled_after_the_snapshot_folder_was_removed_joins_as_a_follower(content: Path, config_file: Path) -> None:
    with WsgiServer("gunicorn", content, config_file, workers=2, env={"FEEDS_WORKER_HEADER": "true"}) as server:
        builder = _agreed_builder(server)
        health = json.loads(server.request("/healthz").body)
        seen: set[int] = set()

        def both_answered() -> bool:
            seen.update(int(r.headers["x-feeds-worker"]) for r in _spread(server, 8))
            return len(seen) == 2

        wait_until(both_answered, 10.0, "both workers answer")
        (follower,) = seen - {builder}
        # Removed whole, as an operator's rm -rf would (the builder may be writing into it meanwhile: try again until it is gone).
        wait_until(lambda: _removed(health["snapshot_dir"]), 10.0, "the snapshot folder removed")
        os.kill(follower, signal.SIGTERM)  # gunicorn recycles a worker (max_requests, a deploy, a crash)

        def recycled() -> bool:
            assert server.process.poll() is None, "gunicorn stopped:\n" + server.log.read_text()[-600:]
            try:
                replies = _spread(server, 8)
            except OSError:  # a worker going down
                return False
            return len({int(r.headers["x-feeds-worker"]) for r in replies if r.status == 200} - {builder, follower}) == 1

        wait_until(recycled, 15.0, "the new worker answers")
        # It learns the builder from status.json, which the builder writes again once it has republished.
        assert _agreed_builder(server) == builder


def _removed(folder: str) -> bool:
    """Remove ``folder`` whole; False when the builder wrote into it meanwhile (then it is tried again)."""
    try:
        shutil.rmtree(folder)
    except OSError:
        return False
    return True


def _spread(server: ServerProcess, count: int) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda _: server.request("/healthz"), range(count)))


def _agreed_builder(server: ServerProcess, other_than: int | None = None) -> int:
    """The builder's pid once every worker asked names the same one (a follower learns it from status.json)."""
    named: set[Any] = set()

    def agreed() -> bool:
        named.clear()
        named.update(json.loads(r.body).get("builder_pid") for r in _spread(server, 9))
        return len(named) == 1 and None not in named and other_than not in named

    wait_until(agreed, 20.0, "one builder named by every worker")
    return int(named.pop())
