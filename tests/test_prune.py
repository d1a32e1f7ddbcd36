"""What no snapshot needs leaves the disk a moment after the swap; what a worker may still serve stays until it lets go.

Two apps on one ``snapshot_dir`` in this process, as two workers: the builder and a
follower with its real watcher. An edit publishes a new snapshot; the objects only the
previous one named are removed once the follower has swapped and let go of it (about a
second), never while it may still open one of them; the render store keeps only what
some post of the site needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds.limits import MAX_TAGS_PER_POST
from feeds.service import pruner as pruner_module
from feeds.service import served as served_module
from feeds.service.runtime import Runtime
from feeds.snapshot.manifest import Manifest
from feeds.web.app import create_app, stop

from .builds import wait_until

EDITED = "2026-05-02-three-layers-of-idempotency.md"
#: As many tags as a post may have: one post shows in many documents (its edit changes every one of them).
TAGS = MAX_TAGS_PER_POST


@pytest.fixture
def worker(content: Path, config_file: Path, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def start(**overrides: Any) -> Flask:
        settings = {"content_dir": str(content), "snapshot_dir": str(tmp_path / "snap"), **overrides}
        app = create_app(settings, config_file=config_file, env={})
        apps.append(app)
        return app

    yield start
    for app in apps:
        stop(app)


def _runtime(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["feeds"]
    return runtime


def _objects(snap: Path) -> tuple[int, int]:
    """Files and bytes in the object store."""
    sizes = []
    for path in (snap / "objects").glob("*/*"):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # pruned as we looked
            continue
    return len(sizes), sum(sizes)


def _manifests(snap: Path) -> list[str]:
    return sorted(p.name for p in (snap / "manifests").glob("*.json"))


def _chain(manifest: Manifest | None) -> list[str]:
    """The manifest files a snapshot needs: its own and, written as a change, those it was written against."""
    assert manifest is not None
    return sorted([manifest.name(), *manifest.parents])


def _named(snap: Path, manifest: Manifest) -> set[Path]:
    return {p for item in manifest.items.values() for p in (snap / "objects" / item.etag[1:3]).glob(item.etag[3:-1] + "*")}


def _tag_post(content: Path, tags: int, title: str) -> None:
    post = content / EDITED
    text = post.read_text(encoding="utf-8")
    head, _, body = text.partition("\n---\n")
    lines = [line for line in head.splitlines() if not line.startswith(("tags:", "  - ")) and not line.startswith("title:")]
    listed = "\n".join(f'  - "topic {n}"' for n in range(tags))
    post.write_text("\n".join([*lines, f'title: "{title}"', "tags:", listed]) + "\n---\n" + body, encoding="utf-8")


def test_an_edit_of_a_post_shown_everywhere_does_not_leave_two_snapshots_on_disk(
    worker: Callable[..., Flask], content: Path, tmp_path: Path
) -> None:
    snap = tmp_path / "snap"
    _tag_post(content, TAGS, "Three Layers of Idempotency")
    leader = worker()
    follower = worker()
    wait_until(
        lambda: _manifests(snap) == _chain(_runtime(leader).current),
        10.0,
        "one snapshot after the first build",
        detail=lambda: f"{_manifests(snap)} {_chain(_runtime(leader).current)}",
    )
    files, size = _objects(snap)
    old = _runtime(leader).current
    assert old is not None

    _tag_post(content, TAGS, "Three Layers of Idempotency, Revised")  # every document that shows the post changes
    assert _runtime(leader).builder_run()
    new = _runtime(leader).current
    assert new is not None and new.version != old.version
    changed = {path for path, item in new.items.items() if old.items.get(path) != item}
    assert len(changed) > 3 * TAGS, "the edit changed a document per tag and format"
    assert _runtime(follower).follow_until(new.version, 5.0)

    # The follower holds the previous manifest for a moment after its swap; then the builder prunes it.
    wait_until(lambda: _manifests(snap) == _chain(new), 10.0, "the previous manifest pruned (its file kept if the new one is its change)")
    wait_until(lambda: not _named(snap, old) - _named(snap, new), 10.0, "the bodies only the previous snapshot named removed")
    after_files, after_size = _objects(snap)
    assert after_files == files and abs(after_size - size) < size * 0.05, (files, after_files, size, after_size)
    for path in ("/feed.xml", "/tags/topic-7/atom.xml", "/tags/go/feed.xml"):
        reply = follower.test_client().get(path)
        assert reply.status_code == 200 and reply.headers["ETag"] == new.items[path].etag, path


def test_a_worker_still_serving_the_previous_snapshot_keeps_its_bodies(
    worker: Callable[..., Flask], content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "snap"
    leader = worker()
    follower = worker()
    runtime = _runtime(follower)
    runtime._stop.set()  # the follower stops looking at `current`: it goes on serving what it serves (a stalled worker)
    assert runtime._watcher is not None
    runtime._watcher.join()
    old = runtime.current
    assert old is not None
    etags = {path: follower.test_client().get(path).headers["ETag"] for path in ("/feed.xml", "/tags/idempotency/atom.xml")}

    _tag_post(content, 3, "Three Layers, Edited")
    assert _runtime(leader).builder_run()
    builder = _runtime(leader).builder
    assert builder is not None
    wait_until(lambda: _runtime(leader).served._retiring == [], 5.0, "the builder's own worker lets go of the previous one")
    assert builder.prune() is False, "a worker still holds the previous manifest: kept"
    assert old.name() in _manifests(snap) and all(p.exists() for p in _named(snap, old))
    for path, etag in etags.items():
        reply = follower.test_client().get(path)
        assert (reply.status_code, reply.headers["ETag"]) == (200, etag), path  # still served, byte for byte
        assert reply.data == runtime.store.read(etag)

    monkeypatch.setattr(served_module, "HOLD_AFTER", 0.0)
    assert runtime.served.follow()  # it looks again, swaps and lets go
    runtime.served.follow()
    assert builder.prune() is True
    assert _manifests(snap) == _chain(_runtime(leader).current)


def test_renderings_no_post_needs_are_removed_after_a_complete_publish(
    worker: Callable[..., Flask], content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pruner_module, "SWEEP_EVERY", 1)  # every prune a whole one (else one in SWEEP_EVERY)
    leader = worker()
    render = tmp_path / "snap" / "render"
    before = {p.parent.name + p.name for p in render.glob("*/*")}
    posts = _runtime(leader).current.post_count  # type: ignore[union-attr]
    assert len(before) == posts
    post = content / EDITED
    post.write_text(post.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    assert _runtime(leader).builder_run()
    after = {p.parent.name + p.name for p in render.glob("*/*")}
    assert len(after) == posts and len(after - before) == 1 and len(before - after) == 1, "the old rendering of the edited post went"
