"""Start-up refuses bad settings naming the key; SIGTERM stops cleanly; no thread keeps a process alive."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from feeds.service.host import HostLock
from feeds.web.app import create_app, stop

from .server import ServerProcess, free_port
from .waiting import wait_until


def test_feeds_serve_stops_on_sigterm_with_its_scheduler(content: Path, config_file: Path) -> None:
    server = ServerProcess(content, config_file)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
    server.stop()
    log = server.log.read_text()
    assert " event=stop " in log
    assert "Traceback" not in log


def test_feeds_serve_refuses_a_bad_setting_naming_the_key(content: Path, config_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")} | {"FEEDS_SCAN_INTERVAL": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "feeds", "serve", "--port", str(free_port()), "--content", str(content), "--config", str(config_file)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "scan_interval" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_background_thread_keeps_the_process_alive(content: Path, config_file: Path, tmp_path: Path) -> None:
    settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "snap"), "websub_hubs": ["http://127.0.0.1:9/hub"]}
    builder = create_app(settings, config_file=config_file, env={}, schedule=True)  # takes the lock: builds
    follower = create_app(settings, config_file=config_file, env={}, schedule=True)  # same snapshot folder: follows
    try:
        assert builder.extensions["feeds"].role.name == "builder" and follower.extensions["feeds"].role.name == "follower"
        others = [t for t in threading.enumerate() if t is not threading.main_thread()]
        assert others and all(t.daemon for t in others), [t.name for t in others if not t.daemon]
    finally:
        stop(builder)
        stop(follower)
    assert builder.extensions["feeds"].role.scheduler is not None and not builder.extensions["feeds"].role.scheduler.running


BUILDER_WITH_HELPERS = """
import os, sys, time
from feeds.service.pool import Pool
def job(items):
    return [os.getpid() for _ in items]
if __name__ == "__main__":
    helpers = set(Pool(2).map(job, list(range(64)), min_items=1))
    print(" ".join(map(str, helpers)), flush=True)
    time.sleep(120)
"""


def test_the_builders_helper_processes_leave_with_a_killed_builder(tmp_path: Path) -> None:
    """kill -9 of a builder must not leave its fork server and helpers behind (they hold each other open)."""
    script = tmp_path / "builder.py"
    script.write_text(BUILDER_WITH_HELPERS, encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    helpers = [int(pid) for pid in process.stdout.readline().split()]
    assert helpers and process.pid not in helpers
    process.kill()
    process.wait(10)
    wait_until(lambda: not [pid for pid in helpers if _alive(pid)], 10.0, "the helper processes to leave")


WORKER_WITH_HELPERS = """
import multiprocessing, os, sys
from feeds.service.pool import Pool
def job(items):
    return [os.getpid() for _ in items]
def worker():
    # A granian worker is a multiprocessing process; it returns when told to stop, helpers still idle.
    pool = Pool(2)
    helpers = set(pool.map(job, list(range(64)), min_items=1))
    print(" ".join(map(str, helpers)), flush=True)
if __name__ == "__main__":
    process = multiprocessing.get_context("fork").Process(target=worker)
    process.start()
    process.join(20)
    print("exited" if process.exitcode == 0 else "hung", flush=True)
    if process.is_alive():
        process.kill()
"""


def test_a_worker_process_that_used_the_helpers_exits_when_it_returns(tmp_path: Path) -> None:
    """multiprocessing joins a process's children before atexit runs: the pool must let its helpers go first."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER_WITH_HELPERS, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    helpers, verdict = result.stdout.splitlines()
    assert helpers.split() and verdict == "exited", result.stderr[-2000:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[-1][:1] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")  # a zombie is gone (its parent, the fork server, reaps it as it leaves too)


def test_a_builder_makes_its_removed_folder_again_with_its_lock_already_in_it(tmp_path: Path) -> None:
    """A follower polling for a free lock never takes the new one first (it did, now and then, under load)."""
    folder = tmp_path / "snap"
    folder.mkdir()
    builder, follower = HostLock(folder), HostLock(folder)
    assert builder.try_acquire() and not follower.try_acquire()
    shutil.rmtree(folder)
    assert builder.lost()
    stop, taken = threading.Event(), threading.Event()
    tries: list[int] = [0]

    def poll() -> None:
        while not stop.is_set():
            tries[0] += 1
            if follower.try_acquire():
                taken.set()
                return

    polling = threading.Thread(target=poll)
    polling.start()
    try:
        assert builder.recreate(0o700)
        after = tries[0]
        wait_until(lambda: tries[0] > after + 1000, 10.0, "a thousand tries of the follower at the new lock")
        assert not taken.is_set() and not builder.lost()
        builder.release()  # the thing the follower was trying for could happen: it takes the lock once it is free
        wait_until(taken.is_set, 10.0, "the follower to take the free lock")
    finally:
        stop.set()
        polling.join()
        follower.release()
    assert folder.is_dir() and (folder.stat().st_mode & 0o777) == 0o700
