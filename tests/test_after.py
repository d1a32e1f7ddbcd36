"""The builder's work after a publish: at once without a pause, else once the workers have it, a change first."""

from __future__ import annotations

import threading
from pathlib import Path

from feeds.service import state
from feeds.service.after import AfterPublish

from .builds import build, site_config

EDITED = "2026-05-02-three-layers-of-idempotency.md"


def _after() -> tuple[AfterPublish, list[bool], threading.Event]:
    done: list[bool] = []
    coming = threading.Event()
    return AfterPublish(done.append, threading.RLock(), coming), done, coming


def test_without_a_pause_the_work_is_done_as_the_publish_returns() -> None:
    after, done, _ = _after()
    after.published(clean=False)
    assert done == [False] and not after.due


def test_with_a_pause_the_work_of_several_publishes_is_done_once_and_a_coming_scan_goes_first() -> None:
    after, done, coming = _after()
    after.pause = 0.01
    after.published(clean=True)
    after.published(clean=False)
    assert done == [] and after.due, "marked due, not done in the publishing thread"
    coming.set()  # a scan waits for the builder's lock
    after.run()
    assert done == [] and after.due, "the scan goes first"
    coming.clear()
    after.run()
    assert done == [True] and not after.due, "both publishes' work at once; one of them was complete"
    after.run()
    assert done == [True], "nothing due: nothing done"


def _inodes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_ino for path in folder.iterdir()}


def test_a_change_during_the_pause_is_published_before_the_index_is_saved(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content)
    made = build(config, tmp_path / "snap")
    made.after.pause = 0.01  # as a Leader's builder
    shards = tmp_path / "snap" / "state" / state.NAME
    before = _inodes(shards)
    other = next(p.name for p in sorted(content.glob("*.md")) if state.shard_of(p.name) != state.shard_of(EDITED))
    for name in (EDITED, other):
        with (content / name).open("a", encoding="utf-8") as post:
            post.write("\nOne more line.\n")
        assert made.rescan(), made.error
        assert _inodes(shards) == before, "published; the index is saved later"
    assert made.index.unsaved() == {EDITED, other}
    assert made.complete()
    rewritten = {name for name, inode in _inodes(shards).items() if before.get(name) != inode}
    assert rewritten == {state.shard_name(state.shard_of(EDITED)), state.shard_name(state.shard_of(other))}
    assert made.index.unsaved() == set() and not made.after.due
