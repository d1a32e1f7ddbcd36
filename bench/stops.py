"""Stopping the production command whatever the builder does; a snapshot folder removed under load.

    python -m bench stop                              # 20 stops of each kind, 2,000 posts
    python -m bench stop --runs 3 --kinds idle,scan   # a quick run
    python -m bench stop --removal --runs 5           # remove the snapshot folder while clients poll

Each run starts granian with ``deploy/feeds.service``'s flags and two workers over the
generated site, waits until both workers are up and the builder is in the state the kind
names, sends SIGTERM to granian's main process only (systemd's ``KillMode=mixed``) and
times its exit:

- ``idle``: the complete snapshot published, the builder idle;
- ``scan``: every post file touched, then a ``POST /-/rebuild``: the builder reads them all again;
- ``render``: a cold start (empty snapshot folder), stopped while documents are rendered;
- ``publish``: a cold start, stopped while a snapshot is flushed, swapped, saved and pruned.

The builder's state is read from ``status.json`` (it writes its activity there at each
change), every 2 ms; a run whose state was missed is made again. Each run's log is checked
for granian killing a worker ("refused to gracefully stop"), Python's "leaked semaphore"
warning, a traceback, and a second ``event=builder`` (another worker taking the lock while
the service stops).

``--removal`` serves a complete snapshot while four threads poll every page-1 feed, HTML
page and page 2 as fast as they can, removes the snapshot folder (renamed away, then
``rm -rf``), and reports how long until ``current`` is back (``back_s``; ``builder_s`` from
the builder's log: its ``snapshot_lost`` to its next ``publish``) and every answer that was
not a 200.

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
import statistics
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import common
from tests.waiting import poll

KINDS = ("idle", "scan", "render", "publish")
#: The activities (status.json) a kind stops in.
WANTED = {"idle": ("idle",), "scan": ("scanning",), "render": ("rendering", "completing"), "publish": ("publishing",)}
PROBLEMS = ("refused to gracefully stop", "leaked semaphore", "Traceback")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=20, help="stops of each kind (default: 20)")
    parser.add_argument("--posts", type=int, default=2000, help="posts of the generated site (default: 2,000)")
    parser.add_argument("--kinds", type=lambda text: tuple(text.split(",")), default=KINDS, help="idle,scan,render,publish")
    parser.add_argument("--removal", action="store_true", help="remove the snapshot folder under load instead")


def run(args: argparse.Namespace) -> None:
    s = common.site(args.posts)
    warm = warm_snapshot(s)
    print(common.header("stop", f"{args.posts} posts", "granian (deploy/feeds.service), 2 workers"), flush=True)
    if args.removal:
        for n in range(args.runs):
            print(json.dumps(one_removal(s, warm, n)), flush=True)
        return
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.kinds}
    for n in range(args.runs):
        for kind in args.kinds:
            for _ in range(5):  # a run whose state was missed is made again
                if (result := one_stop(kind, s, warm, n)) is not None:
                    results[kind].append(result)
                    print(json.dumps(result), flush=True)
                    break
    print(f"\n{'kind':8} {'runs':>4} {'min':>6} {'median':>6} {'max':>6}  problems (SIGTERM to granian's main process until it exited, s)")
    for kind, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        problems: Counter[str] = Counter()
        for r in runs:
            problems.update(r["problems"])
            if r["builders"] > 1:
                problems["lock taken over while stopping"] += 1
        if seconds:
            line = f"{kind:8} {len(seconds):>4} {min(seconds):6.2f} {statistics.median(seconds):6.2f} {max(seconds):6.2f}"
            print(f"{line}  {dict(problems) or 'none'}")


def start(s: common.Site, snapshot: Path, folder: Path) -> common.Server:
    metrics = folder / "metrics"
    metrics.mkdir(exist_ok=True)
    return common.Server("granian", s, snapshot, folder, 2, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)}).start()


def status(snapshot: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((snapshot / "status.json").read_bytes())
    except (OSError, ValueError):
        return {}
    return data


def both_up(server: common.Server) -> bool:
    return server.log.read_text(errors="replace").count("Started worker-") == 2


def sigterm(server: common.Server) -> float:
    """SIGTERM to the main process only; seconds until it exited (then the group goes, whatever is left of it)."""
    assert server.proc is not None
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(60)
    elapsed = time.monotonic() - started
    server.stop(5)
    return elapsed


def rebuild(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/-/rebuild", headers={"Authorization": f"Bearer {common.TOKEN}", "Content-Length": "0"})
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def complete(port: int) -> bool:
    """Whether the server answers /healthz with a complete snapshot (False while it starts)."""
    try:
        return json.loads(get(port, "/healthz")[1]).get("complete") is True
    except (OSError, ValueError, http.client.HTTPException):
        return False


def warm_snapshot(s: common.Site) -> Path:
    """A complete snapshot of the site (made once; copied into each idle, scan and removal run)."""
    warm = common.WORK / f"stop-warm-{s.n}"
    if not (warm / ".complete").exists():
        shutil.rmtree(warm, ignore_errors=True)
        folder = common.scratch("bench-stop-warm-")
        server = start(s, warm / "snapshot", folder)
        try:
            assert poll(lambda: complete(server.port), 1200, interval=0.5)
            assert poll(lambda: status(warm / "snapshot").get("activity") == "idle", 120, interval=0.1)
        finally:
            server.stop()
        (warm / ".complete").touch()
    return warm / "snapshot"


def one_stop(kind: str, s: common.Site, warm: Path, n: int) -> dict[str, Any] | None:
    """One start and stop; None when the wanted state was missed."""
    folder = common.scratch(f"bench-stop-{kind}-")
    snapshot = folder / "snapshot"
    if kind in ("idle", "scan"):
        shutil.copytree(warm, snapshot, symlinks=True)
    posts = {post: (post.stat().st_atime_ns, post.stat().st_mtime_ns) for post in s.posts.glob("*.md")}
    server = start(s, snapshot, folder)
    asking: threading.Thread | None = None
    try:
        if not poll(lambda: both_up(server), 120, interval=0.02):  # a stop while a worker still loads: tests/test_stops.py
            return None
        if kind in ("idle", "scan"):
            poll(lambda: status(snapshot).get("activity") == "idle", 120, interval=0.02)
        if kind == "scan":  # every file changed (its stamp): a rescan asked for over HTTP reads them all again
            stamp = time.time() + n
            for post in posts:
                os.utime(post, (stamp, stamp))
            asking = threading.Thread(target=rebuild, args=(server.port,), daemon=True)
            asking.start()
        if not poll(lambda: status(snapshot).get("activity") in WANTED[kind], 120, interval=0.002):
            return None
        caught = status(snapshot).get("activity")
        seconds = sigterm(server)
    finally:
        server.stop(5)
        if asking is not None:
            asking.join(10)
        for post, (atime, mtime) in posts.items():  # as the warm snapshot knows them: the next run starts idle
            os.utime(post, ns=(atime, mtime))
    log = server.log.read_text(errors="replace")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "kind": kind,
        "activity": caught,
        "seconds": round(seconds, 3),
        "problems": {problem: log.count(problem) for problem in PROBLEMS if problem in log},
        "builders": len(re.findall(r" event=builder( |$)", log, re.M)),
        "cancelled": len(re.findall(r" event=build_cancelled( |$)", log, re.M)),
    }


def one_removal(s: common.Site, warm: Path, n: int) -> dict[str, Any]:
    """Serve the warm snapshot under four polling threads, remove its folder, count the answers until it is back."""
    folder = common.scratch("bench-stop-removal-")
    snapshot = folder / "snapshot"
    shutil.copytree(warm, snapshot, symlinks=True)
    server = start(s, snapshot, folder)
    try:
        assert poll(lambda: both_up(server), 120, interval=0.02)
        assert poll(lambda: complete(server.port), 120, interval=0.05)
        assert poll(lambda: status(snapshot).get("activity") == "idle", 600, interval=0.05)  # (a new code adopts first)
        manifest = json.loads((snapshot / os.readlink(snapshot / "current")).read_bytes())
        paths = [row[0] for row in manifest["items"] if not row[0].startswith("/_views/")]
        paths = [path for path in paths if "/page/" not in path or "/page/2/" in path]
        answers: Counter[int] = Counter()
        stop = threading.Event()

        def polling(offset: int) -> None:
            i = offset
            while not stop.is_set():
                try:
                    status_code = get(server.port, paths[i % len(paths)])[0]
                except (OSError, http.client.HTTPException):
                    status_code = 0
                answers[status_code] += 1
                i += 4

        pollers = [threading.Thread(target=polling, args=(k,), daemon=True) for k in range(4)]
        for thread in pollers:
            thread.start()
        poll(lambda: sum(answers.values()) >= 200, 60, interval=0.01)  # warmed up: every answer so far a 200
        before = dict(answers)
        snapshot.rename(folder / "removed")  # gone at once (an rm -rf races with the builder writing it again)
        removed = time.monotonic()
        back = poll(lambda: (snapshot / "current").exists(), 30, interval=0.001)
        republished = time.monotonic() - removed
        shutil.rmtree(folder / "removed")
        poll(lambda: sum(answers.values()) >= sum(before.values()) + 400, 60, interval=0.01)  # and a while after
        stop.set()
        for thread in pollers:
            thread.join()
        after = {code: count - before.get(code, 0) for code, count in answers.items() if count > before.get(code, 0)}
        log = server.log.read_text(errors="replace")
        lost = re.search(r"^ts=(\S+) .* pid=(\d+) event=snapshot_lost", log, re.M)
        again = lost and re.search(rf"^ts=(\S+) .* pid={lost[2]} event=publish ", log[lost.end() :], re.M)
        seconds = (datetime.fromisoformat(again[1]) - datetime.fromisoformat(lost[1])).total_seconds() if lost and again else None
        return {"run": n, "back_s": round(republished, 3) if back else None, "builder_s": seconds, "answers": after}
    finally:
        server.stop(10)
        shutil.rmtree(folder, ignore_errors=True)
