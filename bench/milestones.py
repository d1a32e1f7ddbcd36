"""The start-up milestones and the edits of ``python -m bench prod``: what one server start is asked, and when it answers.

``bench/prod.py``'s docstring says what each figure means.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import probe
from bench.common import SITE_URL, TOKEN, Server
from bench.probe import GZIP, Answer, Client, Tally
from bench.prod_report import WORKERS


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
    #: Where the original waits meanwhile (``Site.backup``: a killed run's edit is undone by the next).
    backup: Path
    original: bytes = b""

    def apply(self, note: str) -> tuple[float, float]:
        """Append a sentence to the body; return ``time.monotonic()`` and ``time.time()`` of the write."""
        self.original = self.path.read_bytes()
        self.backup.write_text(json.dumps({"path": str(self.path), "text": self.original.decode()}), encoding="utf-8")
        at = time.monotonic(), time.time()
        self.path.write_bytes(self.original.rstrip(b"\n") + f"\n\nEdited by python -m bench prod ({note}).\n".encode())
        return at

    def undo(self) -> None:
        if self.original:
            self.path.write_bytes(self.original)
            self.backup.unlink(missing_ok=True)


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
    edit = Edit(server.site.edited, server.site.backup)
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
