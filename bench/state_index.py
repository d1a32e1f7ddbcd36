"""Time the builder's saved content index: a full save, the save after an edit (one shard), a restore (CPU time).

On a synthetic site of N posts (``tests/sitegen.py``, made in ``bench/.work/site-N``
unless ``--site`` names one), the least of ``--runs`` runs of each. To compare with
another version of feeds, run it with that version's ``feeds`` package first on
``PYTHONPATH``, interleaved with this one: docs/limits.md gives the figures.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import feeds
from feeds.config import load_config
from feeds.content.index import ContentIndex
from feeds.service import state
from tests.sitegen import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", type=int, nargs="?", default=10_000, metavar="N", help="number of posts (default: 10000)")
    parser.add_argument("--site", type=Path, help="a content folder to use instead of a generated one")
    parser.add_argument("--runs", type=int, default=5, help="runs of each measure; the least is reported (default: 5)")


def run(args: argparse.Namespace) -> None:
    site = args.site or Path(__file__).resolve().parent / ".work" / f"site-{args.n}"
    if args.site is None and not site.is_dir():
        generate(args.n, str(site))
    print("code:", feeds.__file__)
    config = load_config(None, env={}, overrides={"content_dir": str(site), "site_url": "http://example.com"})
    index = ContentIndex(config)
    scan = index.scan()
    full, one, restore = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "state"
        for _ in range(args.runs):
            shutil.rmtree(folder, ignore_errors=True)
            index.forget_saved()
            started = time.process_time()
            state.save(folder, config, index)
            full.append(time.process_time() - started)
            index._unsaved = {scan.posts[0].source}  # one file edited: its shard is written again
            started = time.process_time()
            state.save(folder, config, index)
            one.append(time.process_time() - started)
            again = ContentIndex(config)
            started = time.process_time()
            state.restore(folder, config, again)
            restore.append(time.process_time() - started)
            assert len(again.state()) == len(index.state()), "restored"
        size = sum(p.stat().st_size for p in (folder / "index").iterdir())
    print(
        f"{len(scan.posts)} posts: full save {min(full) * 1000:.0f} ms, one-shard save {min(one) * 1000:.1f} ms, "
        f"restore {min(restore) * 1000:.0f} ms (CPU), {size / 1e6:.1f} MB"
    )
