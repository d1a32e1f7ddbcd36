"""Time the plan (every document of a site and its digest): from scratch, and after one edit (CPU time).

On a synthetic site of N posts (``tests/sitegen.py``, made in ``bench/.work/site-N``
unless ``--site`` names one); ``--sections K`` moves the posts into K first-level
folders (round robin) in a copy, so every post is also in a section scope. Prints
CPU milliseconds (the least of ``--reps`` runs) for ``select`` and ``plan`` from
scratch, for ``plan`` after one post's body changed (the previous plan lends every
unchanged document), and the document count. To compare with another version of
feeds, run it with that version's ``feeds`` package first on ``PYTHONPATH``,
interleaved with this one: docs/feeds-and-pages.md gives the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feeds
from feeds.config import load_config
from feeds.content.index import ContentIndex
from feeds.content.site import select
from feeds.render.plan import plan
from tests.sitegen import generate

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def best(function: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Best CPU time in milliseconds over ``reps`` runs, and the last result."""
    times, result = [], None
    for _ in range(reps):
        started = time.process_time()
        result = function()
        times.append((time.process_time() - started) * 1000)
    return min(times), result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", type=int, nargs="?", default=10_000, metavar="N", help="number of posts (default: 10000)")
    parser.add_argument("--site", type=Path, help="a content folder to use instead of a generated one")
    parser.add_argument("--reps", type=int, default=5, help="runs of each measure; the least is reported (default: 5)")
    parser.add_argument("--sections", type=int, default=0, help="spread the posts over this many sections (default: none)")
    parser.add_argument("--fediverse", action="store_true", help="plan with fediverse = true (Articles and outboxes too)")


def run(args: argparse.Namespace) -> None:
    source = args.site or Path(__file__).resolve().parent / ".work" / f"site-{args.n}"
    if args.site is None and not source.is_dir():
        generate(args.n, str(source))
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = source
        if args.sections:
            site_dir = Path(tmp) / "site"
            for number, post in enumerate(sorted(source.glob("*.md"))):
                folder = site_dir / f"section-{number % args.sections}"
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(post, folder / post.name)
        fediverse = {"fediverse": True} if args.fediverse else {}  # an older feeds without the setting: leave it out
        config = load_config(None, env={}, overrides={"content_dir": str(site_dir), "snapshot_dir": str(Path(tmp) / "snap"), **fediverse})
        scan = ContentIndex(config).scan()
        with_author = "site_author" in inspect.signature(select).parameters

        def selected(posts: Any) -> Any:
            return select(posts, NOW, config.author.name) if with_author else select(posts, NOW)

        select_ms, site = best(lambda: selected(scan.posts), args.reps)
        cold_ms, planned = best(lambda: plan(site, config), args.reps)
        middle = len(scan.posts) // 2
        edited = list(scan.posts)
        edited[middle] = dataclasses.replace(edited[middle], body_digest="0" * 64)
        edited_site = selected(edited)
        edit_ms, _ = best(lambda: plan(edited_site, config, planned), args.reps)
    print(f"code: {Path(feeds.__file__).parent.parent}")
    print(f"posts: {len(site.posts)}, sections: {args.sections}, fediverse: {args.fediverse}, documents: {len(planned.docs)}")
    print(
        f"select: {select_ms:.0f} ms, plan from scratch: {cold_ms:.0f} ms, plan after one edit: {edit_ms:.0f} ms (CPU, best of {args.reps})"
    )
