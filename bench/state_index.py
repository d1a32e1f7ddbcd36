"""Time the builder's saved content index: a full save, the save after an edit (one shard), a restore.

Usage (a site from bench/gen_site.py; CPU time, the least of 5 runs)::

    python bench/gen_site.py 10000 /tmp/site10k
    python bench/state_index.py /tmp/site10k /tmp/state

To compare with another version of feeds, run it with that version first on ``PYTHONPATH``
(its ``feeds`` package), interleaved with this one: docs/limits.md gives the figures.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import feeds
from feeds.config import load_config
from feeds.content.index import ContentIndex
from feeds.service import state


def main(site: Path, folder: Path, runs: int = 5) -> None:
    print("code:", feeds.__file__)
    config = load_config(None, env={}, overrides={"content_dir": str(site), "site_url": "http://example.com"})
    index = ContentIndex(config)
    scan = index.scan()
    full, one, restore = [], [], []
    for _ in range(runs):
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


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
