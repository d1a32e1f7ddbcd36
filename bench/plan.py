"""Time the plan (every document of a site and its digest) over a generated site: cold, and after one edit.

Usage::

    .venv/bin/python bench/plan.py SITE [--reps 5] [--sections 0]

SITE is a folder from ``bench/gen_site.py``. ``--sections N`` moves the posts
into N first-level folders (round robin) in a copy, so every post is also in a
section scope. Prints CPU milliseconds (best of ``--reps``) for ``select`` and
``plan`` from scratch, for ``plan`` after one post's body changed (the previous
plan lends every unchanged feed document), and the document count. Run it
with ``PYTHONPATH=<another checkout>`` to time that code on the same site.
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

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def best(function: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Best CPU time in milliseconds over ``reps`` runs, and the last result."""
    times, result = [], None
    for _ in range(reps):
        started = time.process_time()
        result = function()
        times.append((time.process_time() - started) * 1000)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sections", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = args.site
        if args.sections:
            site_dir = Path(tmp) / "site"
            for number, post in enumerate(sorted(args.site.glob("*.md"))):
                folder = site_dir / f"section-{number % args.sections}"
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy(post, folder / post.name)
        config = load_config(None, env={}, overrides={"content_dir": str(site_dir), "snapshot_dir": str(Path(tmp) / "snap")})
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
    print(f"posts: {len(site.posts)}, sections: {args.sections}, documents: {len(planned.docs)}")
    print(f"select: {select_ms:.0f} ms, plan from scratch: {cold_ms:.0f} ms, plan after one edit: {edit_ms:.0f} ms (CPU, best of {args.reps})")


if __name__ == "__main__":
    main()
