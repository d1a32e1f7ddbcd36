"""Production benchmark: gunicorn and granian with 4 workers against Hugo, interleaved, per site size.

Run by hand, never in ``make test`` (needs ``make test``'s .venv, and the ``bench`` extra for Hugo)::

    .venv/bin/python bench/prod.py --sizes 1000 --reps 1                  # a quick run (~5 min)
    .venv/bin/python bench/prod.py --sizes 1000,10000 --reps 3 --out bench/prod-results.md
    .venv/bin/python bench/prod.py --sizes 10000 --servers granian --no-hugo

Sites come from ``bench/gen_site.py`` and are kept in ``/tmp/feeds-prod-sites/site-N`` (the
edits below are always undone). Per size and rep the order is Hugo RSS-only, each server,
Hugo full (the servers' order flips every other rep). Each server kind is measured in one
*trial* of three starts, all on 127.0.0.1, with ``-w 4``/``--workers 4``, the production
commands (``gunicorn -c gunicorn.conf.py``, ``granian --interface wsgi`` with ``deploy/feeds.service``'s flags), a fresh
``FEEDS_SNAPSHOT_DIR`` per trial, ``FEEDS_WORKER_HEADER=true`` (every answer names its worker
pid), JSON logs, and for granian a fresh ``PROMETHEUS_MULTIPROC_DIR``:

1. **Cold start** (empty snapshot dir). From ``time.monotonic()`` before ``Popen``: first 200 on
   ``/feed.xml``; every page-1 feed (all scopes and formats, read from the three OPML lists)
   answering 200; every worker answering 200 (distinct ``X-Feeds-Worker`` pids = 4); page 3 of the
   biggest tag's RSS feed, reached by following ``rel="next"`` links. Meanwhile two poller
   threads hit page-1 feeds and walk older pages (``next`` links, round robin over the feeds);
   every answer's status is counted, and every older page asked after the first 200 is timed
   until it answers 200. Then a **full crawl** (``/``, ``/tags/``, every tag page, the OPML lists,
   every page of every feed by ``next``; then all of it again with ``Accept-Encoding: gzip``),
   and the **PSS** of the master and every descendant (``/proc/<pid>/smaps_rollup``). Then an
   **edit by request**: one post in the middle of the site gets a sentence appended, then
   ``POST /-/rebuild``; the feed page holding that post (found in the crawl) is polled from 4
   threads until every worker pid serves a new ETag. The edit is undone the same way.
2. **Warm restart**: SIGTERM, wait, start again on the same snapshot dir; the same start-up
   probes (no crawl).
3. **Edit by scan**: another warm start with ``FEEDS_SCAN_INTERVAL=1``; the same edit, found by
   the scheduled scan, polled until every worker serves it, undone, then once more: the first
   edit after a restart is reported on its own (today it costs a full rebuild). "Detection" is
   the start of the scan that found it: the builder's ``rebuild`` event (logged after the swap)
   minus its ``seconds``.

The pollers of every start go on until ``--poll-after`` seconds (default 10) after its first 200.

The server log is scanned for worker timeouts and respawns. Output: a markdown table per size
(medians over reps; counts summed, worst cases maxed) with each target and met / NOT met, then
the raw figures as JSON (``--out FILE`` writes FILE and FILE.json). Every wait is bounded
(``--startup-timeout``, default max(120 s, 30 ms per post), for each start and each edit; the
crawl gets max(300 s, 60 ms per post)); every server is stopped, by its process group, whatever
happens, and a trial that fails is counted in the table and kept in the JSON with its error.

How to read the figures:

- Every time is seen from a client on the same machine: a milestone is reached when *our*
  request got its 200, so it is an upper bound (20 ms between retries, plus the request). The
  page-1 figure includes the sweep's own 153 requests (3 threads); "sweep started at" and "not
  ready when first asked" say how much of it is ours.
- Which worker answers is the kernel's choice. "Every worker" is when the 4th distinct pid first
  answered 200 while the sweeps and pollers (up to 6 concurrent requests) were running.
- 5xx and connection-error counts grow with the polling rate; the targets are zero, and "the
  last 5xx after the first 200" says for how long they went on.
- "Detection" is the start of the scan that found the edit (the ``rebuild`` event's wall-clock
  ``ts`` minus its ``seconds``, ms precision), which is no later than the moment it was found,
  so "detection → every worker" errs on the long side. Only the edited post's page of the
  site's RSS feed is polled.
- PSS is summed over the master and all its descendants at that moment (a start-up helper that
  is still alive counts). The growth per 1,000 posts compares one size with the previous one.
- Hugo's RSS-only site renders no Markdown (its items carry the front-matter summary) and
  writes RSS only, with no older pages; see ``bench/vs_hugo.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import probe  # noqa: E402
import vs_hugo  # noqa: E402
from probe import GZIP, Answer, Client, Tally  # noqa: E402
from prod_report import WORKERS, report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SITES = Path(tempfile.gettempdir()) / "feeds-prod-sites"
SITE_URL = "https://bench.example.org"  # fixed, so a restart on another port adopts the same snapshot
TOKEN = "bench-rebuild-token"
CONFIG = """\
site_url = "https://bench.example.org"
title = "Bench"
description = "A synthetic site."
items_per_feed = 20
scan_interval = 3600
log_format = "json"

[author]
name = "Bench Author"
email = "bench@example.org"
"""


# --- the sites ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    n: int
    folder: Path

    @property
    def posts(self) -> Path:
        return self.folder / "content" / "posts"

    @property
    def edited(self) -> Path:
        """The post the edits touch: the middle one by date (file names start with the date)."""
        return sorted(self.posts.glob("*.md"))[self.n // 2]

    @property
    def edited_url(self) -> str:
        slug = re.sub(r"^\d{4}-\d{2}-\d{2}-", "", self.edited.stem)  # README: slug = file name without date prefix
        return f"{SITE_URL}/posts/{slug}/"

    def biggest_tag(self) -> str:
        counts: dict[str, int] = json.loads((self.folder / "tags.json").read_text())
        return max(counts, key=lambda tag: counts[tag])


def site(n: int) -> Site:
    """The N-post site, generated (deterministically) once into /tmp."""
    folder = SITES / f"site-{n}"
    backup = Edit.backup(folder)
    if backup.exists():  # an earlier run was killed in the middle of an edit
        saved = json.loads(backup.read_text(encoding="utf-8"))
        Path(saved["path"]).write_text(saved["text"], encoding="utf-8", newline="")
        backup.unlink()
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        posts = folder / "content" / "posts"
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_site.py"), str(n), str(posts)], check=True, stderr=subprocess.DEVNULL)
        (folder / "feeds.toml").write_text(CONFIG, encoding="utf-8")
        counts: dict[str, int] = {}
        for post in posts.glob("*.md"):  # gen_site writes tags as a YAML block list of quoted strings
            front = post.read_text(encoding="utf-8").split("\n---\n", 1)[0]
            for tag in re.findall(r'^  - "(.*)"$', front.split("\ntags:\n", 1)[1], re.M):
                counts[tag] = counts.get(tag, 0) + 1
        (folder / "tags.json").write_text(json.dumps(counts, indent=1), encoding="utf-8")
        (folder / ".complete").touch()
    return Site(n, folder)


# --- one server process -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":  # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR itself
        return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "wsgi:app"]
    if kind == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--workers",
            str(WORKERS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # deploy/feeds.service's flags: the production command
            "--blocking-threads",
            "4",
            "--http",
            "1",
            "--http1-header-read-timeout",
            "10000",
            "--workers-kill-timeout",
            "10",
            "--respawn-failed-workers",
            "wsgi:app",
        ]
    raise ValueError(kind)


@dataclass
class Server:
    """One start of ``kind`` on a free port, in its own process group, logging to ``log``."""

    kind: str
    site: Site
    snapshot_dir: Path
    scratch: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    t0: float = 0.0
    proc: subprocess.Popen[bytes] | None = None
    log: Path = Path()

    def start(self) -> Server:
        self.port = free_port()
        self.log = self.scratch / f"{self.kind}-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        environ |= {
            "FEEDS_CONFIG": str(self.site.folder / "feeds.toml"),
            "FEEDS_CONTENT_DIR": str(self.site.folder / "content"),
            "FEEDS_SITE_URL": SITE_URL,
            "FEEDS_SNAPSHOT_DIR": str(self.snapshot_dir),
            "FEEDS_WORKER_HEADER": "true",
            "FEEDS_POLL_LIMIT": "0",  # the bench polls like no reader would: the per-client limit is not what is measured
            "FEEDS_LOG_FORMAT": "json",
            "FEEDS_REBUILD_TOKEN": TOKEN,
        }
        if self.kind == "granian":
            environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=self.scratch)
        environ |= self.env
        with self.log.open("wb") as out:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(
                command(self.kind, self.port), cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def workers(self) -> set[int]:
        """The worker pids: the master's descendants (gunicorn and granian fork them directly)."""
        return set(probe.descendants(self.pid)) - {self.pid}

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM to the process group, wait (then SIGKILL); seconds until the master exited."""
        if self.proc is None:
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {self.kind} did not stop in {timeout:.0f} s; killing its process group", file=sys.stderr)
        elapsed = time.monotonic() - started
        for _ in range(50):  # workers may outlive the master by a moment; none may outlive the bench
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(5)
        return elapsed

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- start-up ---------------------------------------------------------------------------------------


def startup(server: Server, timeout: float, tag: str, poll_after: float) -> dict[str, Any]:
    """Time the start-up milestones of ``server`` while two pollers count every answer."""
    tally = Tally(server.t0)
    client = Client(server.port, SITE_URL, tally)
    deadline = server.t0 + timeout
    done = threading.Event()
    page1: list[str] = ["/feed.xml", "/atom.xml", "/feed.json"]  # the pollers' list until the OPML lists are read
    older: list[tuple[float, str]] = []  # (seconds from first ask to 200, path), asked after the first 200
    older_failed: list[str] = []

    def poll_page1() -> None:
        i = 0
        while not done.is_set() and time.monotonic() < deadline:
            client.get(page1[i % len(page1)], GZIP)
            i += 1
            done.wait(0.05)

    def poll_older() -> None:
        cursors: dict[str, str] = {}  # page-1 path → the next older page to ask for
        turn: deque[str] = deque()
        while not done.is_set() and time.monotonic() < deadline:
            if tally.first_200 is None:
                done.wait(0.05)
                continue
            if not turn:
                turn.extend(page1)
            feed = turn.popleft()
            path = cursors.get(feed)
            if path is None:  # read the feed's page 1 for its next link
                answer: Answer | None = client.until_200(feed, min(deadline, time.monotonic() + 10), GZIP)
            else:
                asked = time.monotonic()
                answer = client.until_200(path, min(deadline, asked + 10), GZIP)
                if answer is None:
                    older_failed.append(path)
                    cursors.pop(feed)
                    continue
                older.append((answer.done - asked, path))
            if answer is not None:
                found = probe.next_link(answer)
                if found:
                    cursors[feed] = client.path(found)
                else:
                    cursors.pop(feed, None)
            done.wait(0.02)

    pollers = [threading.Thread(target=poll_page1, daemon=True), threading.Thread(target=poll_older, daemon=True)]
    for p in pollers:
        p.start()
    result: dict[str, Any] = {}
    scopes: list[probe.Scope] = []
    try:
        first = None
        while first is None and time.monotonic() < deadline and server.alive():
            answer = client.get("/feed.xml", GZIP)
            if answer.status == 200:
                first = answer
            else:
                time.sleep(0.02)
        if first is None:
            why = f"exited with {server.proc.returncode}" if server.proc and not server.alive() else f"not within {timeout:.0f} s"
            raise RuntimeError(f"{server.kind}: no 200 on /feed.xml ({why})\n{server.tail()}")
        result["first_200"] = first.done - server.t0

        scopes = probe.discover(client, deadline)
        page1[:] = [url for s in scopes for url in s.feeds.values()]
        result["page1_feeds"] = len(page1)
        # Every page-1 feed's first 200 is an upper bound: it includes this sweep's own requests (3 threads).
        # When no answer in the sweep was other than 200, every feed was ready before the sweep started.
        result["page1_sweep_started"] = time.monotonic() - server.t0
        ready: dict[str, float] = {}
        retried: list[str] = []

        def sweep(path: str) -> None:
            answer = client.get(path, GZIP)
            if answer.status != 200:
                retried.append(path)
                answer = client.until_200(path, deadline, GZIP) or answer
            if answer.status == 200:
                ready[path] = answer.done - server.t0

        def tag_page3() -> None:
            """Page 1 of the biggest tag's RSS feed, then two ``next`` links on."""
            scope = next((s for s in scopes if s.name.endswith(f": {tag}")), None)
            path = scope.feeds["rss"] if scope else None
            for page in (1, 2, 3):
                answer = client.until_200(path, deadline, GZIP) if path else None
                if answer is None:
                    return
                if page == 3:
                    result["tag_page3"], result["tag_page3_path"] = answer.done - server.t0, path
                    return
                found = probe.next_link(answer)
                path = client.path(found) if found else None

        walker = threading.Thread(target=tag_page3, daemon=True)
        walker.start()

        def sweep_all(paths: list[str]) -> None:
            for path in paths:
                sweep(path)

        sweepers = [threading.Thread(target=sweep_all, args=(page1[i::3],), daemon=True) for i in range(3)]
        for t in sweepers:
            t.start()
        for t in sweepers:
            t.join()
        result["all_page1"] = max(ready.values()) if len(ready) == len(page1) else None
        result["page1_missing"] = sorted(set(page1) - ready.keys())[:10]
        result["page1_not_ready_when_asked"] = len(retried)
        probe.spread(client, "/feed.xml", lambda a: None, lambda: len(tally.workers) >= WORKERS, deadline)
        walker.join(max(0.0, deadline - time.monotonic()) + 15)
        served = sorted(tally.workers.values())
        result["every_worker"] = served[WORKERS - 1] if len(served) >= WORKERS else None
        result["workers_serving"] = len(served)
        # The pollers keep asking for a while after the first 200, whatever the milestones took.
        done.wait(max(0.0, min(deadline, server.t0 + result["first_200"] + poll_after) - time.monotonic()))
    finally:
        done.set()
        for p in pollers:
            p.join(probe.REQUEST_TIMEOUT + 12)
    result["older_asked"] = len(older)
    result["older_max"] = max((s for s, _ in older), default=None)
    result["older_max_path"] = max(older, default=(0.0, ""))[1]
    result["older_over_1s"] = sum(s > 1.0 for s, _ in older)
    result["older_failed"] = older_failed[:10]
    for phase in ("before", "after"):
        answers = [(k.split(":")[1], n) for k, n in tally.statuses.items() if k.startswith(phase)]
        result[f"http_5xx_{phase}_first_200"] = sum(n for status, n in answers if status.startswith("5"))
        result[f"conn_errors_{phase}_first_200"] = sum(n for status, n in answers if not status.isdigit())
    result |= tally.snapshot()
    return result


# --- edits -------------------------------------------------------------------------------------------


@dataclass
class Edit:
    """One post's body changed (a sentence appended) and put back; the front matter is untouched."""

    path: Path
    original: bytes = b""

    @staticmethod
    def backup(site_folder: Path) -> Path:
        """Where the original waits while a post is edited (so a killed run can be repaired)."""
        return site_folder / ".edit-backup.json"

    def apply(self, note: str) -> tuple[float, float]:
        """Append a sentence to the body; return ``time.monotonic()`` and ``time.time()`` of the write."""
        self.original = self.path.read_bytes()
        backup = self.backup(self.path.parents[2])
        backup.write_text(json.dumps({"path": str(self.path), "text": self.original.decode()}), encoding="utf-8")
        at = time.monotonic(), time.time()
        self.path.write_bytes(self.original.rstrip(b"\n") + f"\n\nEdited by bench/prod.py ({note}).\n".encode())
        return at

    def undo(self) -> None:
        if self.original:
            self.path.write_bytes(self.original)
            self.backup(self.path.parents[2]).unlink(missing_ok=True)


def etag_of(client: Client, path: str, deadline: float) -> str:
    answer = client.until_200(path, deadline, GZIP)
    if answer is None:
        raise RuntimeError(f"{path} never answered 200")
    return answer.headers["etag"]


def until_everywhere(client: Client, path: str, workers: set[int], etag_ok: Any, deadline: float) -> dict[int, float]:
    """Poll ``path`` from 4 threads until every worker pid in ``workers`` has served an ETag ``etag_ok`` accepts.

    Returns pid → ``time.monotonic()`` of its first such answer.
    """
    first: dict[int, float] = {}
    lock = threading.Lock()

    def seen(answer: Answer) -> None:
        if answer.status == 200 and answer.worker in workers and etag_ok(answer.headers.get("etag")):
            with lock:
                first.setdefault(answer.worker, answer.done)

    probe.spread(client, path, seen, lambda: workers <= first.keys(), deadline, threads=4, pause=0.02)
    return first


def detection(server: Server, filename: str, offset: int, followers: int) -> dict[str, Any]:
    """From the log after byte ``offset``: the builder's rebuild for ``filename``, its publish, the followers' loads (wall clock)."""
    for _ in range(50):  # a follower logs its load just after it starts serving the new snapshot
        events = probe.events(server.log, {"rebuild", "publish", "load"}, offset)
        rebuild = next((e for e in events if e["event"] == "rebuild" and filename in str(e.get("changed", ""))), None)
        loads = [probe.wall(e["ts"]) for e in events if rebuild and e["event"] == "load" and e.get("version") == rebuild["version"]]
        if rebuild is not None and len(loads) >= followers:
            break
        time.sleep(0.1)
    if rebuild is None:
        return {}
    done = probe.wall(rebuild["ts"])
    publish = next((probe.wall(e["ts"]) for e in events if e["event"] == "publish" and e.get("version") == rebuild["version"]), None)
    return {
        "scan_start": done - float(str(rebuild["seconds"])),
        "rebuild_done": done,
        "rebuild_seconds": float(str(rebuild["seconds"])),
        "publish": publish,
        "loads": len(loads),
        "last_load": max(loads) if loads else None,
    }


def measure_edit(server: Server, client: Client, page: str, how: str, workers: set[int], deadline_s: float) -> dict[str, Any]:
    """Edit the middle post, then undo it; ``how`` = ``request`` (POST /-/rebuild right after the write) or ``scan``.

    Times run from the file write, the rebuild request and the start of the scan that
    found the change, until every pid in ``workers`` has served ``page`` with a new ETag.
    """
    edit = Edit(server.site.edited)
    old = etag_of(client, page, time.monotonic() + 30)
    clock = time.monotonic() - time.time()  # add to a wall-clock time to get a monotonic one
    result: dict[str, Any] = {"page": page, "workers": len(workers)}
    rebuild_answer: list[Answer] = []

    def post() -> None:
        rebuild_answer.append(client.get("/-/rebuild", {"Authorization": f"Bearer {TOKEN}"}, method="POST", timeout=deadline_s))

    offset = server.log.stat().st_size
    try:
        wrote, wrote_wall = edit.apply(how)
        poster = threading.Thread(target=post, daemon=True)
        if how == "request":
            poster.start()
        first = until_everywhere(client, page, workers, lambda e: e != old, time.monotonic() + deadline_s)
        if how == "request":
            poster.join(deadline_s + 5)
        sent = None
        if rebuild_answer:
            result["rebuild_status"] = rebuild_answer[0].status or rebuild_answer[0].error
            result["rebuild_answer"] = rebuild_answer[0].done - rebuild_answer[0].sent
            sent = rebuild_answer[0].sent
        result["workers_seen"] = len(first)
        visible = max(first.values()) if workers <= first.keys() else None
        result["write_to_visible"] = visible - wrote if visible else None
        result["request_to_visible"] = visible - sent if visible and sent else None
        filename = server.site.edited.relative_to(server.site.folder / "content").as_posix()
        found = detection(server, filename, offset, len(workers) - 1)
        if found:
            result["write_to_detect"] = found["scan_start"] - wrote_wall
            result["detect_to_visible"] = visible - (found["scan_start"] + clock) if visible else None
            result["detect_to_loaded"] = found["last_load"] - found["scan_start"] if found["last_load"] else None
            result["rebuild_seconds"] = found["rebuild_seconds"]
            result["rebuild_to_publish"] = found["publish"] - found["rebuild_done"] if found["publish"] else None
            result["follower_loads"] = found["loads"]
    finally:
        edit.undo()
    # Put the site back the same way, so the published snapshot matches the files again.
    rebuild_answer.clear()
    if how == "request":
        post()
    back = until_everywhere(client, page, workers, lambda e: e == old, time.monotonic() + deadline_s)
    result["undone"] = workers <= back.keys()
    return result


# --- one trial: cold start, crawl, memory, edit; warm restart; edit by scan ------------------------


def trial(kind: str, s: Site, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    snapshot_dir = scratch / f"snapshot-{kind}"
    shutil.rmtree(snapshot_dir, ignore_errors=True)
    tag = s.biggest_tag()
    timeout = args.startup_timeout or max(120.0, 0.03 * s.n)
    out: dict[str, Any] = {"server": kind, "command": " ".join(command(kind, 0)).replace(str(BIN) + "/", "")}

    def workers(server: Server, start: dict[str, Any]) -> set[int]:
        """The workers that served during start-up and are still there (not a start-up helper that exited)."""
        return set(start["pids_seen"]) & server.workers()

    server = Server(kind, s, snapshot_dir, scratch).start()
    try:
        out["cold"] = startup(server, timeout, tag, args.poll_after)
        out["cold"]["memory_after_startup"] = probe.memory(server.pid)
        client = Client(server.port, SITE_URL)
        scopes = probe.discover(client, time.monotonic() + 30)
        marker = f"<link>{s.edited_url}</link>".encode()
        found = probe.crawl(client, scopes, time.monotonic() + max(300.0, 0.06 * s.n), keep=lambda path, body: marker in body)
        site_rss = found.chains.get((scopes[0].name, "rss"), [])
        holding = [p for p in site_rss if p in found.kept] or sorted(found.kept)
        out["crawl"] = {
            "documents": len(found.documents),
            "feed_pages": sum(len(c) for c in found.chains.values()),
            "seconds_plain": found.seconds_plain,
            "seconds_gzip": found.seconds_gzip,
            "mb_plain": found.bytes_plain / 2**20,
            "mb_gzip": found.bytes_gzip / 2**20,
            "gzip_answers": found.gzip_answers,
            "failures": len(found.failures),
            "failure_sample": found.failures[:10],
        }
        out["memory_after_crawl"] = probe.memory(server.pid)
        if not holding:
            raise RuntimeError(f"no feed page holds {s.edited_url}")
        out["edited_page"] = page = holding[0]
        out["edit_request"] = measure_edit(server, client, page, "request", workers(server, out["cold"]), timeout)
        out["cold"]["server_log"] = probe.server_trouble(server.log)
    finally:
        out["stop_seconds"] = server.stop()

    server = Server(kind, s, snapshot_dir, scratch).start()
    try:
        out["warm"] = startup(server, timeout, tag, args.poll_after)
        out["warm"]["memory_after_startup"] = probe.memory(server.pid)
        out["warm"]["server_log"] = probe.server_trouble(server.log)
    finally:
        server.stop()

    server = Server(kind, s, snapshot_dir, scratch, env={"FEEDS_SCAN_INTERVAL": "1"}).start()
    try:
        out["warm_scan1"] = start = startup(server, timeout, tag, args.poll_after)
        settle(server, time.monotonic() + timeout)
        client = Client(server.port, SITE_URL)
        # The first edit after a restart, then one more: the builder may only have parsed state after one rebuild.
        out["edit_scan_first"] = measure_edit(server, client, page, "scan", workers(server, start), timeout)
        out["edit_scan"] = measure_edit(server, client, page, "scan", workers(server, start), timeout)
        out["warm_scan1"]["server_log"] = probe.server_trouble(server.log)
    finally:
        server.stop()
    return out


def settle(server: Server, deadline: float) -> None:
    """Wait until the restarted builder has adopted (or rebuilt) the published snapshot, plus one scan."""
    while time.monotonic() < deadline:
        if probe.events(server.log, {"adopt", "rebuild"}):
            break
        time.sleep(0.2)
    time.sleep(1.5)


# --- the driver -------------------------------------------------------------------


def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    s = site(n)
    scratch = Path(tempfile.mkdtemp(prefix=f"feeds-prod-{n}-"))
    servers = args.servers.split(",")
    row: dict[str, Any] = {"n": n, "tag": s.biggest_tag(), "edited": s.edited.name, "hugo": {}, "trials": {k: [] for k in servers}}
    try:
        hugo_roots = {}
        if not args.no_hugo:
            hugo = vs_hugo.binary()
            hugo_roots = {v: vs_hugo.make_site(s.posts, scratch / f"hugo-{v}", v) for v in ("rss", "full")}
            for root in hugo_roots.values():
                vs_hugo.build(root, hugo)  # untimed warm-up, as bench/vs_hugo.py does
            row["hugo"] = {
                "rss": [],
                "full": [],
                "version": subprocess.run([hugo, "version"], capture_output=True, text=True).stdout.strip(),
            }
        for rep in range(args.reps):
            order = servers if rep % 2 == 0 else servers[::-1]
            steps: list[str] = (["hugo-rss"] if hugo_roots else []) + order + (["hugo-full"] if hugo_roots else [])
            for step in steps:
                print(f"[{time.strftime('%H:%M:%S')}] N={n} rep {rep + 1}/{args.reps}: {step}", file=sys.stderr, flush=True)
                if step.startswith("hugo-"):
                    variant = step[5:]
                    row["hugo"][variant].append(vs_hugo.build(hugo_roots[variant], hugo))
                    if rep == 0:
                        row["hugo"][f"{variant}_output"] = vs_hugo.describe(hugo_roots[variant])
                else:
                    try:
                        row["trials"][step].append(trial(step, s, scratch, args))
                    except Exception as e:  # one failed trial must not lose the others; the table counts it
                        print(f"  {step} failed: {e}", file=sys.stderr)
                        row["trials"][step].append({"server": step, "error": f"{type(e).__name__}: {e}"})
        return row
    finally:
        if args.keep:
            print(f"kept {scratch} (server logs, snapshots, Hugo sites)", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated post counts (default: 1000,10000)")
    parser.add_argument("--servers", default="gunicorn,granian", help="comma-separated, of gunicorn, granian (default: both)")
    parser.add_argument("--reps", type=int, default=3, help="trials per server and Hugo builds per site, per size (default: 3)")
    parser.add_argument("--out", type=Path, help="write the markdown here and the raw figures to OUT.json")
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo builds (the ratios are then left out)")
    parser.add_argument("--poll-after", type=float, default=10, help="seconds the start-up pollers go on after the first 200 (default: 10)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders (server logs, snapshots) and print where")
    parser.add_argument("--startup-timeout", type=float, default=0, help="seconds each start may take (default: max(120, 0.03 × N))")
    args = parser.parse_args()
    servers = args.servers.split(",")
    for kind in servers:
        if kind not in ("gunicorn", "granian"):
            parser.error(f"unknown server {kind!r}")
        if not (BIN / kind).exists():
            parser.error(f"{BIN / kind} missing: make test (it installs gunicorn and granian into .venv)")
    rows = [run_size(int(n), args) for n in args.sizes.split(",")]
    text = report(rows, servers)
    print(text)
    raw = json.dumps(rows, indent=1, default=str)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        args.out.with_name(args.out.name + ".json").write_text(raw + "\n", encoding="utf-8")
    else:
        print("\n```json\n" + raw + "\n```")


if __name__ == "__main__":
    main()
