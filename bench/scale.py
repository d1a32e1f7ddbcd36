"""Issue 21 end to end: start, every page 1, memory, edit/add/delete on every worker, idle cost, restart — Hugo beside it.

    python -m bench scale --sizes 10000,100000          # granian with deploy/feeds.service's flags, 4 workers

On the generated site of N posts (``bench/.work/site-N``), in one interleaved run: Hugo's
RSS-only and full builds of the same posts, then the production command from an empty
snapshot folder: the first 200 and every page-1 feed 200 (``bench/milestones.py``'s
pollers), PSS of every process after start-up and after every page-1 feed of every scope
was fetched in three formats (the builder is the worker that holds the lock); then, from
the moment the file is written (file-system events, no POST and no scan interval: it is
an hour here), until every worker answers a new ETag: one post's body edited (its post
page), a post added as the newest (``/feed.xml``), the same post deleted (``/feed.xml``
back); the CPU all processes spend in ``--idle`` seconds with nothing changing; and a
restart (first 200, every page-1 feed). Edits are undone. Times are wall seconds from the
write (or the start); "builder" figures come from its log.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import probe, vs_hugo
from bench.common import SITE_URL, Server, Site, cpu_seconds, header, memory, scratch, site, sizes
from bench.milestones import Edit, etag_of, startup, until_everywhere
from bench.probe import Client
from bench.prod_report import WORKERS

#: The post added and deleted: the newest of all (in /feed.xml), dated yesterday (a later date is not published yet).
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
ADDED = f"{DAY}-bench-added-scale.md"


def server_of(s: Site, snapshot_dir: Path, folder: Path) -> Server:
    env = {
        "FEEDS_WORKER_HEADER": "true",
        "FEEDS_LOG_FORMAT": "json",
        "FEEDS_SCAN_INTERVAL": "3600",  # only events can show a change within the run
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="metrics-", dir=folder),
    }
    return Server("granian", s, snapshot_dir, folder, WORKERS, env=env)


def _pss(server: Server) -> dict[str, Any]:
    """PSS in MB of all processes, the largest, and each by its part: granian's main process, each worker, helpers."""
    found = memory(server.pid)
    direct = {pid for pid in found if _parent(pid) == server.pid}  # granian forks its workers itself
    builder = _builder_pid(server)
    parts = {
        "main": round(found.get(server.pid, {}).get("pss", 0.0), 1),
        "builder": round(found[builder]["pss"], 1) if builder in found else None,
        "workers": sorted(round(found[pid]["pss"], 1) for pid in direct if pid != builder and pid in found),
        "helpers": sorted(round(m["pss"], 1) for pid, m in found.items() if pid != server.pid and pid not in direct),
    }
    return {"total": sum(m["pss"] for m in found.values()), "largest": max((m["pss"] for m in found.values()), default=0.0), "parts": parts}


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _builder_pid(server: Server) -> int | None:
    events = probe.events(server.log, {"builder"}, 0)
    return int(str(events[-1]["pid"])) if events else None


def _builder_pss(server: Server) -> float | None:
    """PSS of the builder's worker and its helper processes (the worker whose pid the builder log names)."""
    pid = _builder_pid(server)
    return None if pid is None else sum(m["pss"] for m in memory(pid).values())


def _documents(server: Server, seen: int) -> int | None:
    """Documents the first publish after the ``seen`` earlier ones rendered at once and left for later (rendered next).

    Its log line comes after the work that follows a publish (saving the index, pruning): waited for, up to 10 s.
    """
    deadline = time.monotonic() + 10.0
    while not (events := probe.events(server.log, {"rebuild"}, 0)[seen:]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(str(events[0]["rendered"])) + int(str(events[0]["pending"])) if events else None


def _every_page1(client: Client) -> list[str]:
    scopes = probe.discover(client, time.monotonic() + 60)
    return [path for scope in scopes for path in scope.feeds.values()]


def _change(
    server: Server, client: Client, path: str, workers: set[int], write: Any, timeout: float, back: str | None = None
) -> tuple[float | None, float | None]:
    """Seconds from ``write()`` until every worker serves ``path`` with another ETag (or ``back``), as the pollers see it,
    and as the workers' logs say (the first snapshot published after the write: the builder's ``publish``, the others'
    ``load``): the pollers ask each worker only every 20–50 ms, and on a loaded machine much later."""
    old = etag_of(client, path, time.monotonic() + 30)
    offset = server.log.stat().st_size
    wrote, wall = time.monotonic(), time.time()
    write()
    seen = until_everywhere(client, path, workers, (lambda e: e == back) if back else (lambda e: e != old), time.monotonic() + timeout)
    return (max(seen.values()) - wrote if workers <= seen.keys() else None), _served(server, offset, wall, len(workers))


def _served(server: Server, offset: int, wall: float, workers: int) -> float | None:
    deadline = time.monotonic() + 10.0  # (a follower logs its load just after it serves the new snapshot)
    while time.monotonic() < deadline:
        events = probe.events(server.log, {"publish", "load"}, offset)
        publish = next((e for e in events if e["event"] == "publish"), None)
        if publish is not None:
            ours = [e for e in events if e["event"] == "load" and (e.get("version"), e.get("seq")) == (publish["version"], publish["seq"])]
            if len(ours) >= workers - 1:
                return max(probe.wall(e["ts"]) for e in [publish, *ours]) - wall
        time.sleep(0.05)
    return None


def trial(s: Site, folder: Path, idle: float) -> dict[str, Any]:
    snapshot_dir = folder / "snapshot"
    shutil.rmtree(snapshot_dir, ignore_errors=True)
    timeout = max(120.0, 0.03 * s.n)
    out: dict[str, Any] = {}
    server = server_of(s, snapshot_dir, folder).start()
    try:
        out["cold"] = cold = startup(server, timeout, s.biggest_tag(), 5.0)
        out["pss_after_start"] = _pss(server)
        client = Client(server.port, SITE_URL)
        page1 = _every_page1(client)
        started = time.monotonic()
        for path in page1:
            client.until_200(path, time.monotonic() + 30, probe.GZIP)
        out["page1_crawl"] = {"documents": len(page1), "seconds": time.monotonic() - started}
        out["pss_after_page1"] = _pss(server)
        started = time.monotonic()
        while time.monotonic() < started + timeout and not json.loads(client.get("/healthz").body or b"{}").get("complete"):
            time.sleep(0.5)
        out["complete_after_start"] = time.monotonic() - server.t0
        time.sleep(3.0)  # the helper processes end after the last older page; the heap settles
        out["pss_complete"] = _pss(server)
        out["builder_pss"] = _builder_pss(server)
        workers = set(cold["pids_seen"]) & server.workers()
        out["workers"] = len(workers)
        edit = Edit(s.edited, s.backup)
        page = s.edited_url.removeprefix(SITE_URL)
        try:
            seen = len(probe.events(server.log, {"rebuild"}, 0))
            out["edit"], out["edit_served"] = _change(server, client, page, workers, lambda: edit.apply("scale"), timeout)
            out["edit_documents"] = _documents(server, seen)
        finally:
            edit.undo()
        time.sleep(1.0)  # the undo published (not measured)
        before = etag_of(client, "/feed.xml", time.monotonic() + 30)
        added = s.posts / ADDED
        text = f"---\ntitle: Added By The Scale Bench\ndate: {DAY}\ntags: [Go]\n---\nA new post.\n"
        seen = len(probe.events(server.log, {"rebuild"}, 0))

        def write_added() -> None:
            added.write_text(text, encoding="utf-8")

        out["add"], out["add_served"] = _change(server, client, "/feed.xml", workers, write_added, timeout)
        out["add_documents"] = _documents(server, seen)
        out["delete"], out["delete_served"] = _change(server, client, "/feed.xml", workers, lambda: added.unlink(), timeout, back=before)
        time.sleep(2.0)  # the builder's work after the last publish (saving its index, pruning) is done
        cpu = cpu_seconds(server.pid)
        time.sleep(idle)
        out["idle_cpu_share"] = (cpu_seconds(server.pid) - cpu) / idle
        out["rebuilds"] = [
            {k: e.get(k) for k in ("files_changed", "bodies_changed", "rendered", "pending", "scan_seconds", "seconds")}
            for e in probe.events(server.log, {"rebuild"}, 0)
        ]
    finally:
        (s.posts / ADDED).unlink(missing_ok=True)
        out["stop_seconds"] = server.stop()
    server = server_of(s, snapshot_dir, folder).start()
    try:
        out["warm"] = startup(server, timeout, s.biggest_tag(), 2.0)
    finally:
        server.stop()
    return out


def hugo(s: Site, folder: Path) -> dict[str, float]:
    binary = vs_hugo.binary()
    return {variant: vs_hugo.build(vs_hugo.make_site(s.posts, folder / f"hugo-{variant}", variant), binary) for variant in ("rss", "full")}


def report(rows: list[dict[str, Any]]) -> str:
    lines = [header("scale"), ""]
    for row in rows:
        t, h = row["trial"], row["hugo"]
        cold, warm = t["cold"], t["warm"]
        ready = cold.get("all_page1") or 0.0
        lines += [
            f"## {row['n']:,} posts · granian, 4 workers · Hugo RSS-only {h['rss']:.2f} s, full {h['full']:.2f} s",
            "",
            "| figure | measured | target |",
            "|---|---|---|",
            f"| cold: first 200 | {cold.get('first_200') or 0:.2f} s | |",
            f"| cold: every page-1 feed 200 | {ready:.2f} s ({ready / h['rss']:.2f} × Hugo RSS-only) | ≤ 1.0 × Hugo RSS-only |",
            f"| page-1 feeds fetched (every scope, 3 formats) | {t['page1_crawl']['documents']} in {t['page1_crawl']['seconds']:.1f} s | |",
            f"| PSS, all processes, after the page-1 fetch (older pages still rendering) | {t['pss_after_page1']['total']:.0f} MB | |",
            f"| every document rendered (complete) after the start | {t['complete_after_start']:.1f} s | |",
            f"| PSS, all processes, then | {t['pss_complete']['total']:.0f} MB | |",
            f"|   the builder's worker | {t['builder_pss'] or 0:.0f} MB | ≤ 100 MB at 10k, ≤ 400 MB at 100k |",
            f"|   the other workers | {t['pss_complete']['total'] - (t['builder_pss'] or 0):.0f} MB | ≤ 300 MB for all 4 at 10k |",
            f"|   by process (MB) | {_parts(t['pss_complete'])} | |",
            f"| edit: file written → every worker | {_ms(t['edit'])} | ≤ 100 ms at 10k, ≤ 200 ms at 100k |",
            f"|   … every worker serving it, from their logs | {_ms(t.get('edit_served'))} | |",
            f"| edit: documents rendered (at once + left for later) | {t.get('edit_documents')} | |",
            f"| add (newest post) → every worker (from their logs) | {_ms(t['add'])} ({_ms(t.get('add_served'))}) | |",
            f"| add: documents rendered (at once + left for later) | {t.get('add_documents')} | ≤ ~200 |",
            f"| delete → every worker (from their logs) | {_ms(t['delete'])} ({_ms(t.get('delete_served'))}) | |",
            f"| idle, all processes | {100 * t['idle_cpu_share']:.2f}% of one core | ≤ 2% |",
            f"| restart: first 200 / every page-1 feed | {warm.get('first_200') or 0:.2f} s / {warm.get('all_page1') or 0:.2f} s | |",
            "",
            "Builder rebuilds (from its log): " + json.dumps(t["rebuilds"]),
            "",
        ]
    return "\n".join(lines)


def _parts(pss: dict[str, Any]) -> str:
    parts = pss.get("parts") or {}
    named = [f"granian main {parts.get('main')}", f"builder's worker {parts.get('builder')}"]
    named += [f"workers {' / '.join(map(str, parts.get('workers', [])))}", f"helpers {' / '.join(map(str, parts.get('helpers', [])))}"]
    return ", ".join(named)


def _ms(seconds: float | None) -> str:
    return "did not reach every worker" if seconds is None else f"{1000 * seconds:.0f} ms"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=sizes, default="10000,100000", help="comma-separated post counts (default: 10000,100000)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of nothing changing for the idle cost (default: 60)")
    parser.add_argument("--out", type=Path, help="write the markdown here and the raw figures to OUT.json")


def run(args: argparse.Namespace) -> None:
    rows = []
    for n in args.sizes:
        s = site(n)
        work = scratch(f"scale-{n}")
        try:
            rows.append({"n": n, "hugo": hugo(s, work), "trial": trial(s, work, args.idle)})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = report(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
