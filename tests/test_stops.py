"""Stopping the production command at any moment: at once, the build cancelled, nothing left behind, the lock not taken over.

granian runs with deploy/feeds.service's flags and two workers (tests/production.py)
over a site of many small posts with two per page, so a cold build spends seconds on
older pages, in the builder's helper processes. SIGTERM goes to granian's main process
only, as systemd sends it. A stop must end the build between two documents, end the
helper processes, hand the builder lock on without another worker starting a fresh
scan, and take well under granian's kill timeout; the next start carries on from what
was published and saved. /healthz says what the builder is doing meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .builds import wait_until, write_post
from .conftest import SAMPLE, SITE_CONFIG
from .production import Production, granian_flags

POSTS = 600
SITE_URL = "http://feeds.test"
TAGS = ("Go", "Python", "Rust", "Kubernetes", "Observability", "Security", "Databases", "Testing")
#: What must never appear in the log of a stop: Python's warning of semaphores left behind by killed helpers,
#: a traceback. A worker that refuses to stop is caught by the time instead: granian waits out its kill timeout
#: (deploy/feeds.service's --workers-kill-timeout) before it kills, and the stop must take under 5 s. Its "Killing worker-N after it
#: refused to gracefully stop" can also follow a worker that had already stopped: granian's join returns when
#: the exiting worker's files are closed, and it gives the kernel 1 ms to make the worker a zombie before it
#: calls it alive (granian/server/common.py, _stop_workers) — under load that is too short.
NEVER = ("leaked semaphore", "Traceback")
_FLAGS = granian_flags(2, 8000)
KILL_TIMEOUT = float(_FLAGS[_FLAGS.index("--workers-kill-timeout") + 1])


def _site(root: Path) -> tuple[Path, Path]:
    """POSTS small posts, two per page: a cold build renders thousands of older pages."""
    content = root / "content"
    content.mkdir(parents=True)
    for n in range(POSTS):
        day = f"20{20 + n % 6}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        tags = (TAGS[n % len(TAGS)], TAGS[(n * 3 + 1) % len(TAGS)])
        write_post(content, f"{day}-post-{n}.md", f"Post {n}", date=day, tags=tags, body=f"Post **{n}**, with [a link](../post-{n - 1}/).")
    config = root / "feeds.toml"
    config.write_text(
        SITE_CONFIG.replace("items_per_feed = 20", "items_per_feed = 2").replace("scan_interval = 60", "scan_interval = 3600")
    )
    return content, config


def _gone(group: int) -> bool:
    """Whether no process of the server's process group is left (workers, fork servers, helpers)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def test_sigterm_in_the_middle_of_a_build_cancels_it_stops_at_once_and_the_next_start_carries_on(tmp_path: Path) -> None:
    content, config = _site(tmp_path)
    snapshot = tmp_path / "snapshot"
    env = {"FEEDS_SNAPSHOT_DIR": str(snapshot), "FEEDS_SITE_URL": SITE_URL}  # one site URL for both starts, whatever their ports
    server = Production(content, config, env=env)
    try:
        wait_until(server.started, 60.0, "both workers up")
        # Page 1s are published; the older pages are being rendered, in the helper processes.
        wait_until(lambda: server.status().get("activity") == "completing", 120.0, "the builder rendering older pages")
        for _ in range(4):  # /healthz on every worker says what the builder does, and no false alarm
            health = server.health()
            assert health["status"] == "ok", health["error"]
            assert health["builder_activity"] in ("completing", "publishing") and health["builder_since"], health
        pending = health["pending"]
        assert pending > 0
        seconds = server.sigterm()
        assert server.process.returncode == 0
        wait_until(lambda: _gone(server.process.pid), 10.0, "every worker and helper process gone")
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert seconds < 5.0 < KILL_TIMEOUT, f"stopped in {seconds:.1f} s"
    assert not [line for line in log.splitlines() if any(bad in line for bad in NEVER)]
    assert len(server.events("build_cancelled")) == 1, "the build was cancelled, not waited for"
    assert len(server.events("builder")) == 1, "no other worker took the lock while the service stopped"
    assert len(server.events("stop")) == 2

    # The next start adopts the published page 1s and renders only the older pages left.
    again = Production(content, config, env=env)
    try:
        wait_until(lambda: again.health().get("complete") is True, 180.0, "the complete snapshot")
        assert again.events("adopt") and not again.events("rebuild"), "nothing published before the stop was built again"
    finally:
        again.stop()


def test_sigterm_while_the_workers_still_load_the_app_stops_them_at_once(tmp_path: Path) -> None:
    """granian's workers load the app before they handle signals themselves: a stop then must not be lost (it was, now and then)."""
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    server = Production(tmp_path / "content", tmp_path / "feeds.toml", ready=False)
    try:
        wait_until(lambda: "Spawning worker-2" in server.log.read_text(errors="replace"), 30.0, "granian spawning its workers")
        assert not server.started(), "a worker is still loading the app"
        seconds = server.sigterm()
        assert server.process.returncode == 0
    finally:
        with contextlib.suppress(OSError):
            server.stop()
    log = server.log.read_text(errors="replace")
    assert seconds < 5.0, f"stopped in {seconds:.1f} s:\n{log[-2000:]}"
    assert not [line for line in log.splitlines() if any(bad in line for bad in NEVER)]
    assert len(server.events("builder")) <= 1
