"""feeds build --out: every feed and page as the exact bytes the service serves, .gz siblings, mtimes, a manifest."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask

from feeds.snapshot import export
from feeds.snapshot.export import ExportError, file_name, read, write_tree

from .server import ServerProcess


def _build(out: Path, content: Path, config: Path, site_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")} | {"FEEDS_SITE_URL": site_url}
    result = subprocess.run(
        [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(content), "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_exported_file_is_what_the_server_answers_for_its_url(
    tmp_path: Path, server: ServerProcess, content: Path, config_file: Path
) -> None:
    out = tmp_path / "out"
    _build(out, content, config_file, server.base)
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["files"]
    assert len(files) > 100
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    named = set(files) | set(manifest["views"])
    assert on_disk == {"manifest.json"} | named | {name + ".gz" for name in named}
    for name, entry in files.items():
        url = entry["path"] if entry["page"] == 1 else f"{entry['path']}?page={entry['page']}"
        plain = server.request(url)
        assert plain.status == 200, url
        assert plain.body == (out / name).read_bytes(), url
        assert plain.headers["etag"] == entry["etag"], url
        assert plain.headers["content-type"] == entry["media_type"], url
        mtime = (out / name).stat().st_mtime
        assert parsedate_to_datetime(plain.headers["last-modified"]).timestamp() == mtime, url
        zipped = server.request(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.body == (out / (name + ".gz")).read_bytes(), url
        assert (out / (name + ".gz")).stat().st_mtime == mtime
        assert gzip.decompress(zipped.body) == plain.body
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for name, entry in manifest["views"].items():
        for path, page in entry["keys"]:
            view = server.request(path if page == 1 else f"{path}?page={page}", headers=browser)
            assert (view.body, view.headers["etag"]) == ((out / name).read_bytes(), entry["etag"]), path


def test_paged_feeds_and_pages_map_to_files() -> None:
    assert file_name(("/feed.xml", 1)) == "feed.xml"
    assert file_name(("/tags/go/atom.xml", 3)) == "tags/go/page/3/atom.xml"
    assert file_name(("/", 1)) == "index.html"
    assert file_name(("/tags/", 1)) == "tags/index.html"
    assert file_name(("/tags/go/", 1)) == "tags/go/index.html"


def test_an_export_reads_back_as_the_same_snapshot(tmp_path: Path, make_app: Callable[..., Flask]) -> None:
    app = make_app(items_per_feed=5)
    snapshot = app.extensions["feeds"].store.current
    assert max(snapshot.pages.values()) > 1
    export.export(snapshot, tmp_path / "out")
    loaded = read(tmp_path / "out")
    assert loaded.views and len(set(map(id, loaded.views.values()))) == len(loaded.views) // 3  # formats share a view
    assert loaded == snapshot  # every body, browser view, page count, tag, problem and date


def test_read_reuses_unchanged_bodies(tmp_path: Path, app: Flask) -> None:
    snapshot = app.extensions["feeds"].store.current
    export.export(snapshot, tmp_path / "out")
    again = read(tmp_path / "out", previous=snapshot)
    assert all(again.bodies[key] is body for key, body in snapshot.bodies.items())


def test_unchanged_files_are_hard_linked_from_the_previous_tree(tmp_path: Path, app: Flask, content: Path) -> None:
    state = app.extensions["feeds"]
    (tmp_path / "one").mkdir()
    first = write_tree(state.store.current, tmp_path / "one")
    assert first.linked == 0
    post = next(content.glob("2026-05-02-*.md"))
    post.write_text(post.read_text().replace("Three Layers of Idempotency", "Three Layers of Idempotency, Revisited"))
    assert state.builder.rescan()
    (tmp_path / "two").mkdir()
    second = write_tree(state.store.current, tmp_path / "two", previous=tmp_path / "one")
    assert 0 < second.written < second.linked
    assert (tmp_path / "two" / "tags/azure/feed.xml").stat().st_ino == (tmp_path / "one" / "tags/azure/feed.xml").stat().st_ino
    assert (tmp_path / "two" / "feed.xml").read_bytes() != (tmp_path / "one" / "feed.xml").read_bytes()
    assert read(tmp_path / "two") == state.store.current


def test_export_replaces_the_folder_and_leaves_no_temporary_folders(tmp_path: Path, app: Flask) -> None:
    snapshot = app.extensions["feeds"].store.current
    out = tmp_path / "site" / "out"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("from an older export")
    export.export(snapshot, out)
    export.export(snapshot, out)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]
    assert out.stat().st_mode & 0o755 == 0o755


def test_a_torn_or_foreign_export_is_refused(tmp_path: Path, app: Flask) -> None:
    export.export(app.extensions["feeds"].store.current, tmp_path / "out")
    with (tmp_path / "out" / "atom.xml").open("ab") as f:
        f.write(b"junk")
    with pytest.raises(ExportError, match="atom.xml"):
        read(tmp_path / "out")
    manifest = tmp_path / "out" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 99}))
    with pytest.raises(ExportError, match="format"):
        read(tmp_path / "out")
    with pytest.raises(ExportError):
        read(tmp_path / "missing")
