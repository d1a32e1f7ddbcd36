"""The snapshot store and its manifest: a manifest reads back as written, a torn one is refused, prune keeps what is named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from feeds.service import builder as builder_module
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.manifest import FORMAT, ManifestError, dumps, loads
from feeds.snapshot.store import Store

from .builds import build, builder, served, site_config

EDITED = "2026-05-02-three-layers-of-idempotency.md"


def test_a_manifest_reads_back_as_written(config_file: Path, content: Path, tmp_path: Path) -> None:
    config = site_config(config_file, content, items_per_feed=2)
    made = build(config, tmp_path / "snap")
    (content / EDITED).write_text("---\ntitle: [unclosed\n---\n\nBroken.\n", encoding="utf-8")  # kept in its last good version
    (content / "note.md").write_text("no front matter at all\n", encoding="utf-8")
    assert made.rescan()
    manifest = made.manifest
    assert manifest is not None and manifest.kept and manifest.problems and manifest.next_change and manifest.tags
    assert loads(dumps(manifest)) == manifest
    assert made.store.load(manifest.name()) == manifest
    pending = builder(site_config(config_file, content, items_per_feed=1), tmp_path / "pending")
    assert pending.rescan() and pending.manifest is not None and pending.manifest.pending
    assert loads(dumps(pending.manifest)) == pending.manifest


def test_a_torn_or_foreign_manifest_is_refused_naming_the_file(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = build(site_config(config_file, content), tmp_path / "snap")
    store, name = made.store, made.store.current_name()
    assert name is not None
    raw = (store.manifests / name).read_bytes()
    (store.manifests / "torn.json").write_bytes(raw[: len(raw) // 2])
    (store.manifests / "foreign.json").write_text(json.dumps({**json.loads(raw), "format": 99}))
    (store.manifests / "other.json").write_text(f'{{"format": {FORMAT}, "items": "none"}}')
    for bad, said in (("torn.json", "not a readable manifest"), ("foreign.json", "format 99"), ("other.json", "not a readable manifest")):
        with pytest.raises(SnapshotError) as error:
            store.load(bad)
        assert error.value.path == str(store.manifests / bad) and said in str(error.value), bad
    with pytest.raises(ManifestError, match="where-it-was"):
        loads(b"\xff", "where-it-was")
    os.replace(store.manifests / "torn.json", store.manifests / name)
    assert store.load_current() is None, "a torn current manifest is no snapshot"


def test_prune_keeps_what_a_served_manifest_names_and_removes_the_rest(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "MAX_DEPTH", 0)  # every manifest written whole (test_deltas_… has the changes)
    made = build(site_config(config_file, content), tmp_path / "snap")
    monkeypatch.setattr(made, "prune", lambda: True)  # the builder prunes after each publish; here the test does
    store = made.store
    oldest = made.manifest
    assert oldest is not None
    post = content / EDITED
    for n in range(4):
        post.write_text(post.read_text(encoding="utf-8").replace("Idempotency", f"Idempotency {n}", 1), encoding="utf-8")
        assert made.rescan()
    names = sorted(p.name for p in store.manifests.glob("*.json"))
    # The build's first publish (before its post pages) was pruned by the second; then one manifest per edit.
    assert len(names) == 5 and names[-1] == store.current_name() and names[0] == oldest.name()
    held = store.hold(names[2])  # a follower still serves it
    assert held is not None
    orphan = store.put(b"named by no manifest").etag
    shard = store.object_path(orphan).parent
    stale = [shard / ".tmp-x.99999999.1", store.manifests / ".tmp-m.json.99999999.7", store.folder / ".tmp-current.99999999.3"]
    ours = shard / f".tmp-y.{os.getpid()}.1"  # this process may still be writing it
    for path in [*stale, ours]:
        path.write_bytes(b"partial")
    named = {name: {i.etag for i in store.load(name).items.values()} for name in names}
    gone = named[names[1]] | named[names[3]]
    kept = named[names[2]] | named[names[-1]] | {i.etag for i in oldest.items.values()}
    assert gone - kept, "the manifests no worker holds name bodies no kept one does"

    pruned = store.prune([oldest])  # the builder's own, say: a publish of it is under way
    assert pruned.held == 1 and pruned.files > 0
    assert sorted(p.name for p in store.manifests.glob("*.json")) == [names[0], names[2], names[-1]]
    # While a worker serves an older manifest no body goes (the builder prunes again when it is let go).
    assert store.object_path(orphan).exists()
    for name in (names[0], names[2], names[-1]):
        manifest = store.load(name)
        assert served(store, manifest).keys() == manifest.items.keys()
        assert all(store.object_path(i.etag, gzip=True).exists() for i in manifest.items.values())

    held.release()  # the follower swapped: the bodies only older manifests named go at the next prune
    assert store.prune([made.manifest]).held == 0
    assert sorted(p.name for p in store.manifests.glob("*.json")) == [names[-1]]
    assert not store.object_path(orphan).exists() and not store.object_path(orphan, gzip=True).exists()
    assert not any(p.exists() for p in stale) and ours.exists()
    assert not [etag for etag in gone - kept if store.object_path(etag).exists() or store.object_path(etag, gzip=True).exists()]
    assert not [etag for etag in named[names[2]] - named[names[-1]] if store.object_path(etag).exists()]
    assert Store(store.folder).load_current() == made.manifest


def test_a_change_is_written_as_a_delta_that_a_follower_reads_alone_and_a_chain_is_bounded(
    config_file: Path, content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder_module, "MAX_DEPTH", 3)
    made = build(site_config(config_file, content), tmp_path / "snap")
    store = made.store
    post = content / EDITED
    served_now = made.manifest
    assert served_now is not None
    whole = 0
    for n in range(5):
        post.write_text(post.read_text(encoding="utf-8").replace("Idempotency", f"Idempotency {n}", 1), encoding="utf-8")
        assert made.rescan()
        manifest = made.manifest
        assert manifest is not None
        name = store.current_name()
        assert name == manifest.name()
        raw = (store.manifests / name).read_bytes()
        if manifest.parents:  # the change only: the edited post's documents, not the site
            assert json.loads(raw)["parent"] == manifest.parents[0] and len(json.loads(raw)["items"]) < len(manifest.items) / 4
            assert len(manifest.parents) <= 3
            with pytest.raises(ManifestError, match="read without it"):
                loads(raw, "delta")
        # A follower that serves the manifest before reads the change; a worker that starts reads the chain: the same.
        assert store.load(name, served_now) == manifest == Store(store.folder).load(name)
        served_now = manifest
        whole += not manifest.parents
        assert made.prune()
        assert sorted(p.name for p in store.manifests.glob("*.json")) == sorted([name, *manifest.parents])
    assert whole == 1, "after three changes the next manifest is written whole"
