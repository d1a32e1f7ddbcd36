"""The builder's heap and time line in one process: a cold build of the N-post site as a worker's builder makes it.

    python -m bench heap 10000              # traced heap (tracemalloc), RSS/PSS, the top holders by file

On ``bench/.work/site-N`` (``bench scale``'s site and settings), a Builder like the
runtime's (helper processes rendering): the first scan and publish, then every older
page (``complete``), a forced rescan, and an edit; each timed. Then the traced heap
(tracemalloc, started after the imports) and ``/proc/self/smaps_rollup`` of this
process, and where the heap is held, by file. ``--no-trace`` times without tracemalloc
(which slows allocation down).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import time
import tracemalloc
from pathlib import Path

from bench.common import WORK, site
from feeds.config import load_config
from feeds.render.store import RenderStore
from feeds.service.builder import Builder
from feeds.service.pool import Pool
from feeds.service.sources import content_source
from feeds.snapshot.store import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", type=int, nargs="?", default=10_000, metavar="N", help="number of posts (default: 10000)")
    parser.add_argument("--no-trace", action="store_true", help="time only: no tracemalloc")
    parser.add_argument("--top", type=int, default=12, help="files listed (default: 12)")


def _rollup() -> dict[str, float]:
    kb = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            kb[key] = int(rest.split()[0])
    return {"rss_mb": kb.get("Rss", 0) / 1024, "pss_mb": kb.get("Pss", 0) / 1024}


def run(args: argparse.Namespace) -> None:
    s = site(args.n)
    config = load_config(s.config, env={}, overrides={"content_dir": str(s.content), "site_url": "http://example.com"})
    folder = WORK / f"heap-{args.n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if not args.no_trace:
        tracemalloc.start()
    base = tracemalloc.take_snapshot() if not args.no_trace else None
    store = Store(folder)
    store.create()
    times: dict[str, float] = {}
    started = time.perf_counter()
    builder = Builder(config, store, RenderStore(folder / "render"), Pool(), folder / "state", content_source(config, folder / "git"))
    times["restore"] = time.perf_counter() - started
    started = time.perf_counter()
    assert builder.rescan(), builder.error
    times["first_publish"] = time.perf_counter() - started
    started = time.perf_counter()
    assert builder.complete(), builder.error
    times["complete"] = time.perf_counter() - started
    started = time.perf_counter()
    builder.rescan(force=True)
    times["forced_rescan"] = time.perf_counter() - started
    edited = s.edited
    text = edited.read_text(encoding="utf-8")
    try:
        edited.write_text(text + "\nOne more line.\n", encoding="utf-8")
        started = time.perf_counter()
        assert builder.rescan(), builder.error
        times["edit"] = time.perf_counter() - started
    finally:
        edited.write_text(text, encoding="utf-8")
    builder.rescan()
    gc.collect()
    report: dict[str, object] = {"posts": args.n, "seconds": {k: round(v, 3) for k, v in times.items()}, **_rollup()}
    if base is not None:
        snapshot = tracemalloc.take_snapshot()
        report["traced_mb"] = round(sum(stat.size for stat in snapshot.statistics("filename")) / 1e6, 1)
        top = snapshot.compare_to(base, "filename")[: args.top]
        report["by_file_mb"] = {str(stat.traceback[0].filename).split("/site-packages/")[-1]: round(stat.size / 1e6, 1) for stat in top}
    print(json.dumps(report, indent=1))
    builder.cancel()
    shutil.rmtree(folder, ignore_errors=True)
