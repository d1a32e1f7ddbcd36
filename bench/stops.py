"""How long the production command takes to stop, whatever the builder is doing; and a snapshot folder removed under load.

Usage::

    python bench/stops.py [--runs 20] [--posts 2000] [--kinds idle,scan,render,publish]
    python bench/stops.py --removal [--runs 5] [--posts 2000]

Each run starts granian with ``deploy/feeds.service``'s flags and two workers over a
generated site (``bench/gen_site.py``), waits until the builder is in the state the kind
names, sends SIGTERM to the granian main process only (systemd's ``KillMode=mixed``) and
times its exit:

- ``idle``: the complete snapshot published, the builder idle;
- ``scan``: every post file touched before the start, so the builder reads them all again;
- ``render``: a cold start (empty snapshot folder), stopped while documents are rendered;
- ``publish``: a cold start, stopped while a snapshot is being flushed, swapped and saved.

The state is read from ``status.json`` (the builder writes its activity there at each
change), polled every few milliseconds; a run whose state was missed is started again.
Each run's log is checked for granian killing a worker ("refused to gracefully stop"),
Python's "leaked semaphore" warning, a traceback, and a second ``event=builder`` (another
worker taking the lock while the service stops).

``--removal`` serves a complete snapshot while a client polls every feed and page as
fast as it can (four threads), removes the snapshot folder (``rm -rf``), and reports how
long until ``current`` is back, and every answer that was not a 200.

Timings taken while other work loads the machine are noisy: say so beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRATCH = Path(tempfile.gettempdir()) / "feeds-bench-stops"
SITE_URL = "http://bench.example"
TOKEN = "bench-token"
CONFIG = """\
site_url = "http://bench.example"
title = "Bench"
description = "A synthetic site."
items_per_feed = 20
scan_interval = 3600

[author]
name = "Bench Author"
email = "bench@example.org"
"""
KINDS = ("idle", "scan", "render", "publish")
#: The activities (status.json) a kind stops in.
WANTED = {"idle": ("idle",), "scan": ("scanning",), "render": ("rendering", "completing"), "publish": ("publishing",)}
PROBLEMS = ("refused to gracefully stop", "leaked semaphore", "Traceback")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site(posts: int) -> Path:
    """The generated site of ``posts`` posts (made once)."""
    folder = SCRATCH / f"site-{posts}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_site.py"), str(posts), str(folder / "content")], check=True)
        (folder / "feeds.toml").write_text(CONFIG, encoding="utf-8")
        (folder / ".complete").touch()
    return folder


@dataclass
class Granian:
    """granian with deploy/feeds.service's flags and two workers, in its own process group."""

    folder: Path
    snapshot: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Granian:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        environ |= {
            "FEEDS_CONFIG": str(self.folder / "feeds.toml"),
            "FEEDS_CONTENT_DIR": str(self.folder / "content"),
            "FEEDS_SITE_URL": SITE_URL,
            "FEEDS_SNAPSHOT_DIR": str(self.snapshot),
            "FEEDS_POLL_LIMIT": "0",
            "FEEDS_REBUILD_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="metrics-", dir=SCRATCH),
        }
        argv = [str(BIN / "granian"), "--interface", "wsgi", "--workers", "2", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--blocking-threads", "4", "--http", "1", "--http1-header-read-timeout", "10000"]
        argv += ["--workers-kill-timeout", "10", "--respawn-failed-workers", "wsgi:app"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.snapshot / "status.json").read_bytes())
        except (OSError, ValueError):
            return {}
        return data

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def rebuild(self) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/-/rebuild", headers={"Authorization": f"Bearer {TOKEN}", "Content-Length": "0"})
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            connection.close()

    def sigterm(self) -> float:
        """SIGTERM to the main process only; seconds until it exited (60 at most, then the group is killed)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(60)
        elapsed = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return elapsed

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait(condition: Any, timeout: float, step: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def one_stop(kind: str, folder: Path, warm: Path, n: int) -> dict[str, Any] | None:
    """One start and stop; None when the wanted state was missed."""
    run = SCRATCH / f"run-{kind}-{n}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    snapshot = run / "snapshot"
    if kind in ("idle", "scan"):
        shutil.copytree(warm, snapshot, symlinks=True)
    server = Granian(folder, snapshot, run / "granian.log").start()
    asking: threading.Thread | None = None
    try:
        # Both workers up (a stop while a worker still loads the app is another matter: see RESULTS.md).
        if not wait(lambda: server.log.read_text(errors="replace").count("Started worker-") == 2, 120, 0.02):
            return None
        wanted = WANTED[kind]
        if kind in ("idle", "scan"):
            wait(lambda: server.status().get("activity") == "idle", 120, 0.02)
        if kind == "scan":  # every file changed (its stamp): a rescan asked for over HTTP reads them all again
            now = time.time() + n
            for post in (folder / "content").glob("*.md"):
                os.utime(post, (now, now))
            asking = threading.Thread(target=server.rebuild, daemon=True)
            asking.start()
        if not wait(lambda: server.status().get("activity") in wanted, 120):
            return None
        caught = server.status().get("activity")
        seconds = server.sigterm()
    finally:
        server.kill()
        if asking is not None:
            asking.join(10)
    log = server.log.read_text(errors="replace")
    return {
        "kind": kind,
        "activity": caught,
        "seconds": round(seconds, 3),
        "problems": {problem: log.count(problem) for problem in PROBLEMS if problem in log},
        "builders": len(re.findall(r" event=builder( |$)", log, re.M)),
        "cancelled": log.count("event=build_cancelled"),
    }


def warm_snapshot(folder: Path) -> Path:
    """A complete snapshot of the site, made once by a granian start (copied into each idle and scan run)."""
    warm = SCRATCH / f"warm-{folder.name}"
    if not (warm / "current").exists():
        shutil.rmtree(warm, ignore_errors=True)
        server = Granian(folder, warm, SCRATCH / "warm.log").start()
        try:
            assert wait(lambda: server.status().get("activity") == "idle" and bool(server.status().get("version")), 600, 0.1)
            assert wait(lambda: json.loads(server.get("/healthz")[1]).get("complete") is True, 600, 0.1)
            server.sigterm()
        finally:
            server.kill()
    return warm


def stops(args: argparse.Namespace) -> None:
    folder = site(args.posts)
    warm = warm_snapshot(folder)
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.kinds}
    for n in range(args.runs):
        for kind in args.kinds:
            for _ in range(5):  # a run whose state was missed is made again
                result = one_stop(kind, folder, warm, n)
                if result is not None:
                    results[kind].append(result)
                    print(json.dumps(result), flush=True)
                    break
    print(f"\n{args.runs} stops of each kind, {args.posts} posts, granian (deploy/feeds.service), 2 workers, SIGTERM to the main process")
    print(f"{'kind':8} {'runs':>4} {'min':>6} {'median':>6} {'max':>6}  problems")
    for kind, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        problems: Counter[str] = Counter()
        for r in runs:
            problems.update(r["problems"])
            if r["builders"] > 1:
                problems["lock taken over while stopping"] += 1
        if not seconds:
            print(f"{kind:8} {0:>4}  (state never caught)")
            continue
        line = f"{kind:8} {len(seconds):>4} {min(seconds):6.2f} {statistics.median(seconds):6.2f} {max(seconds):6.2f}"
        print(f"{line}  {dict(problems) or 'none'}")


def removal(args: argparse.Namespace) -> None:
    folder = site(args.posts)
    warm = warm_snapshot(folder)
    for n in range(args.runs):
        print(json.dumps(one_removal(folder, warm, n)), flush=True)


def one_removal(folder: Path, warm: Path, n: int) -> dict[str, Any]:
    """Serve the warm snapshot under four polling threads, remove its folder, count the answers until it is back."""
    run = SCRATCH / f"removal-{n}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    snapshot = run / "snapshot"
    shutil.copytree(warm, snapshot, symlinks=True)
    server = Granian(folder, snapshot, run / "granian.log").start()
    try:
        assert wait(lambda: server.log.read_text(errors="replace").count("Started worker-") == 2, 120, 0.02)
        assert wait(lambda: json.loads(server.get("/healthz")[1]).get("complete") is True, 120, 0.05)
        answers: Counter[int] = Counter()
        stop = threading.Event()
        paths = _paths(server)

        def poll(offset: int) -> None:
            i = offset
            while not stop.is_set():
                try:
                    status, _ = server.get(paths[i % len(paths)])
                except (OSError, http.client.HTTPException):
                    status = 0
                answers[status] += 1
                i += 4

        pollers = [threading.Thread(target=poll, args=(k,), daemon=True) for k in range(4)]
        for thread in pollers:
            thread.start()
        time.sleep(1.0)  # the pollers warm up: what they get before the removal is all 200
        before = dict(answers)
        removed = time.monotonic()
        shutil.rmtree(snapshot)
        back = wait(lambda: (snapshot / "current").exists(), 30, 0.001)
        republished = time.monotonic() - removed
        time.sleep(2.0)
        stop.set()
        for thread in pollers:
            thread.join()
        after = {status: count - before.get(status, 0) for status, count in answers.items()}
        return {"run": n, "republished_s": round(republished, 3) if back else None, "answers": after}
    finally:
        server.sigterm()
        server.kill()


def _paths(server: Granian) -> list[str]:
    """Every page-1 feed and HTML page, and an older page of each feed (what a crawler asks for)."""
    manifest = json.loads((server.snapshot / os.readlink(server.snapshot / "current")).read_bytes())
    paths = [row[0] for row in manifest["items"] if not row[0].startswith("/_views/")]
    return [path for path in paths if "/page/" not in path or path.count("/page/2/")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--kinds", type=lambda text: tuple(text.split(",")), default=KINDS)
    parser.add_argument("--removal", action="store_true", help="remove the snapshot folder under load instead")
    args = parser.parse_args()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (removal if args.removal else stops)(args)


if __name__ == "__main__":
    main()
