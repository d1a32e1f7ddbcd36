"""Content loading benchmark: discover, load, rescan and select on an N-post site, in CPU time.

    python -m bench load                      # 10,000 posts, 5 runs
    python -m bench load --posts 1000 --runs 3
    python -m bench load --site ~/blog/content

Everything runs in this one process, single-threaded (the builder spreads
``load()`` over its helper processes; this measures the work itself).
Times are CPU time (``time.process_time``), the median of the runs, so other
work on the machine disturbs them less than wall-clock times. The posts are the
generated site's (``bench/.work/site-N``); ``load() content/`` is the sample blog of this repository.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import ROOT, site
from feeds.config import Config, load_config
from feeds.content.files import discover
from feeds.content.index import ContentIndex
from feeds.content.post import load
from feeds.content.site import select
from feeds.content.tags import index_tags

SAMPLE = ROOT / "content"
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def config_for(folder: Path) -> Config:
    return load_config(env={}, overrides={"content_dir": str(folder), "site_url": "https://bench.example.org"})


def cpu_ms(work: Callable[[], object], runs: int) -> float:
    """Median CPU milliseconds of ``work`` over ``runs`` runs (garbage collected before each)."""
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.process_time()
        work()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def measure(site: Path, runs: int) -> list[tuple[str, float, str]]:
    """Return (what, CPU ms, note) rows for ``site``."""
    config = config_for(site)
    files = discover(site).files
    n = len(files)
    rows: list[tuple[str, float, str]] = []

    rows.append((f"discover(), {n} posts", cpu_ms(lambda: discover(site), runs), ""))
    total = cpu_ms(lambda: [load(f, config) for f in files], runs)
    rows.append((f"load(), {n} posts, per post", total / n, f"{total:.0f} ms for all"))
    sample_files = discover(SAMPLE).files
    sample_config = config_for(SAMPLE)
    reps = max(1, 2000 // len(sample_files))
    sample = cpu_ms(lambda: [load(f, sample_config) for f in sample_files * reps], runs)
    rows.append((f"load(), content/ ({len(sample_files)} posts), per post", sample / (len(sample_files) * reps), ""))

    rows.append((f"cold ContentIndex.scan(), {n} posts", cpu_ms(lambda: ContentIndex(config).scan(), max(1, runs // 2)), "serial load"))
    bodies = [loaded.body.encode("utf-8", "surrogatepass") for loaded in (load(f, config) for f in files)]
    compress = cpu_ms(lambda: [zlib.compress(body, 1) for body in bodies], runs)
    rows.append((f"  of which zlib of {n} bodies", compress, "ContentIndex keeps each body compressed"))
    index = ContentIndex(config)
    scan = index.scan()
    assert len(scan.posts) == n, [str(p) for p in scan.problems[:5]]
    rows.append((f"no-change ContentIndex.scan(), {n} posts", cpu_ms(lambda: index.scan(), runs), ""))
    rows.append((f"select() (index_tags() included), {n} posts", cpu_ms(lambda: select(scan.posts, NOW), runs), ""))
    rows.append((f"index_tags(), {n} posts", cpu_ms(lambda: index_tags(scan.posts), runs), ""))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--posts", type=int, default=10_000, help="how many generated posts (default 10,000)")
    parser.add_argument("--site", type=Path, help="measure this content folder instead of generated posts")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; the median is shown (default 5)")


def run(args: argparse.Namespace) -> None:
    folder = args.site.resolve() if args.site else site(args.posts).posts
    rows = measure(folder, args.runs)
    width = max(len(what) for what, _, _ in rows)
    print(f"{'CPU time, median of ' + str(args.runs):<{width}}  {'ms':>9}")
    for what, ms, note in rows:
        print(f"{what:<{width}}  {ms:9.3f}  {note}")
