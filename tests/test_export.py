"""feeds build --out: the bytes the service serves at each URL, .gz siblings, mtimes as Last-Modified, a manifest; atomic."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feeds.snapshot import export
from feeds.urls import file_name

from .builds import Events, builder, record_events, site_config
from .conftest import SITE_CONFIG
from .server import ServerProcess


def _feeds_build(out: Path, content: Path, config: Path, snapshot_dir: Path, site_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env |= {"FEEDS_SITE_URL": site_url, "FEEDS_SNAPSHOT_DIR": str(snapshot_dir)}
    argv = [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(content), "--config", str(config)]
    return subprocess.run(argv, env=env, cwd=out.parent, capture_output=True, text=True, timeout=60)


def _tree(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_every_exported_file_is_what_the_server_answers_at_its_url(tmp_path: Path, content: Path) -> None:
    paged = tmp_path / "paged.toml"
    paged.write_text(SITE_CONFIG.replace("items_per_feed = 20", "items_per_feed = 5"), encoding="utf-8")
    out = tmp_path / "out"
    with ServerProcess(content, paged) as server:
        built = _feeds_build(out, content, paged, tmp_path / "build-snapshot", server.base)
        assert built.returncode == 0, built.stderr
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        files: dict[str, dict[str, Any]] = manifest["files"]
        assert any("/archive/" in entry["path"] for entry in files.values()), "archives are exported too"
        assert any(entry["path"].startswith("/posts/") for entry in files.values()), "and post pages"
        documents = {name: entry for name, entry in files.items() if "gzip_size" in entry}
        media = {name: entry for name, entry in files.items() if name not in documents}
        assert set(media) == {f"media/{path.name}" for path in (content / "media").iterdir()}, "the media folder, without .gz"
        assert _tree(out) == {"manifest.json", "redirects.map", "pages.map", "cache.map", "media.types"} | set(files) | {
            name + ".gz" for name in documents
        }
        for name, entry in media.items():
            plain = server.request(entry["path"])
            assert plain.status == 200 and plain.body == (out / name).read_bytes() == (content / name).read_bytes(), name
            assert (plain.headers["etag"], plain.headers["content-type"], len(plain.body)) == (
                entry["etag"],
                entry["media_type"],
                entry["size"],
            )
            assert (out / name).stat().st_mtime == parsedate_to_datetime(plain.headers["last-modified"]).timestamp(), name
        for name, entry in documents.items():
            assert file_name(entry["path"]) == name
            plain = server.request(entry["path"])
            assert plain.status == 200, name
            assert plain.body == (out / name).read_bytes(), name
            assert (plain.headers["etag"], plain.headers["content-type"]) == (entry["etag"], entry["media_type"]), name
            assert len(plain.body) == entry["size"], name
            modified = parsedate_to_datetime(plain.headers["last-modified"])
            assert modified.isoformat() == entry["last_modified"], name
            assert (out / name).stat().st_mtime == (out / (name + ".gz")).stat().st_mtime == modified.timestamp(), name
            zipped = server.request(entry["path"], headers={"Accept-Encoding": "gzip"})
            assert zipped.headers["content-encoding"] == "gzip", name
            assert zipped.body == (out / (name + ".gz")).read_bytes(), name
            assert len(zipped.body) == entry["gzip_size"] and gzip.decompress(zipped.body) == plain.body, name
        health = json.loads(server.request("/healthz").body)
        assert manifest["version"] == health["version"] and manifest["post_count"] == health["posts"] == 21
        browser = server.request("/tags/go/feed.xml", headers={"Accept": "text/html,application/xml;q=0.9"})
        assert browser.headers["content-type"].startswith("text/html")
        assert browser.body not in {(out / name).read_bytes() for name in files}, "views are not exported"
    assert not any("_views" in name or name.endswith("view.html") for name in _tree(out))


def test_paths_map_to_files_in_the_url_layout() -> None:
    assert file_name("/feed.xml") == "feed.xml"
    assert file_name("/tags/go/archive/3/atom.xml") == "tags/go/archive/3/atom.xml"
    assert file_name("/posts/a-post/") == "posts/a-post/index.html"
    assert file_name("/") == "index.html"
    assert file_name("/tags/") == "tags/index.html"
    assert file_name("/tags/café/") == "tags/café/index.html"
    assert file_name("/feeds.opml") == "feeds.opml"


def test_the_export_manifest_describes_every_file_with_its_validators(app: Flask, tmp_path: Path) -> None:
    runtime = app.extensions["feeds"]
    current = runtime.current
    count = export.export(current, runtime.store, tmp_path / "out")
    described = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    items = export.exported(current)
    media = list(current.media.values())
    assert media, "the sample's media folder"
    assert count == 2 * len(items) + len(media) + 5  # media without .gz; the manifest, redirects.map, pages.map, cache.map, media.types
    assert {k: described[k] for k in ("version", "post_count", "built_at")} == {
        "version": current.version,
        "post_count": current.post_count,
        "built_at": current.built_at.isoformat(),
    }
    assert described["files"] == {
        file_name(item.path): {
            "path": item.path,
            "media_type": item.media_type,
            "etag": item.etag,
            "last_modified": item.modified.isoformat(),
            "size": item.size,
            "gzip_size": item.gzip_size,
        }
        for item in items
    } | {
        file_name(item.path): {
            "path": item.path,
            "media_type": item.media_type,
            "etag": item.etag,
            "last_modified": item.modified.isoformat(),
            "size": item.size,
        }
        for item in media
    }
    assert {item.path for item in items} == {path for path in current.items if not path.startswith("/_views/")}


def test_export_replaces_the_folder_and_leaves_no_temporary_folders(app: Flask, tmp_path: Path) -> None:
    runtime = app.extensions["feeds"]
    out = tmp_path / "site" / "out"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("from an older export")
    export.export(runtime.current, runtime.store, out)
    first = _tree(out)
    export.export(runtime.current, runtime.store, out)
    assert not (out / "stale.txt").exists() and _tree(out) == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]
    assert out.stat().st_mode & 0o777 == 0o755


def test_an_export_that_fails_half_way_leaves_the_previous_one_whole(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = app.extensions["feeds"]
    out = tmp_path / "out"
    export.export(runtime.current, runtime.store, out)
    before = {name: (out / name).read_bytes() for name in _tree(out)}
    copied: list[str] = []
    copyfile = shutil.copyfile

    def copy_then_fail(source: Any, target: Any) -> Any:
        if len(copied) == 20:
            raise OSError(28, "No space left on device")
        copied.append(str(target))
        return copyfile(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export.export(runtime.current, runtime.store, out)
    assert len(copied) == 20, "it failed half way"
    assert {name: (out / name).read_bytes() for name in _tree(out)} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_incomplete_snapshot_is_not_exported(config_file: Path, content: Path, tmp_path: Path) -> None:
    made = builder(site_config(config_file, content, items_per_feed=2), tmp_path / "snap")
    assert made.rescan() and made.manifest is not None and made.manifest.pending
    with pytest.raises(ValueError, match="complete"):
        export.export(made.manifest, made.store, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_feeds_build_next_to_a_running_service_exports_what_it_publishes(
    make_app: Callable[..., Flask], content: Path, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: Events = record_events(monkeypatch)
    snapshot_dir = tmp_path / "shared"
    app = make_app(snapshot_dir=str(snapshot_dir))  # this process is the host's builder
    out = tmp_path / "out"
    built = _feeds_build(out, content, config_file, snapshot_dir, "http://127.0.0.1:8000")
    assert built.returncode == 0, built.stderr
    current = app.extensions["feeds"].current
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["version"] == current.version
    assert (out / "feed.xml").read_bytes() == app.extensions["feeds"].store.read(current.items["/feed.xml"].etag)
    assert events.count("rebuild") == 1, "the command asked the running builder, which had nothing new to build"


# -- known bugs ------------------------------------------------------------------------------


def test_a_new_export_replaces_the_old_one_without_a_moment_of_no_export(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = app.extensions["feeds"]
    out = tmp_path / "out"
    export.export(runtime.current, runtime.store, out)
    missing: list[str] = []

    def watching(name: str, rename: Callable[..., Any]) -> Callable[..., Any]:
        def renamed(*args: Any) -> Any:
            result = rename(*args)
            if not (out / "feed.xml").is_file():  # what a web server reading the folder now finds
                missing.append(f"{name}{args}")
            return result

        return renamed

    for owner, name in ((os, "rename"), (os, "replace"), (Path, "rename"), (Path, "replace")):
        monkeypatch.setattr(owner, name, watching(name, getattr(owner, name)))
    export.export(runtime.current, runtime.store, out)
    monkeypatch.undo()
    assert (out / "feed.xml").is_file()
    assert not missing, missing


def test_an_export_removes_what_a_killed_export_left_behind(app: Flask, tmp_path: Path) -> None:
    runtime = app.extensions["feeds"]
    out = tmp_path / "out"
    export.export(runtime.current, runtime.store, out)
    left = tmp_path / ".out-k1ll3d"  # mkdtemp(prefix=".out-") of an export killed an hour ago
    shutil.copytree(out, left)
    hour_ago = time.time() - 3600
    for path in [*left.rglob("*"), left]:
        os.utime(path, (hour_ago, hour_ago))
    export.export(runtime.current, runtime.store, out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_the_export_holds_nginx_maps_of_redirects_and_old_page_urls(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(items_per_feed=4, redirects={"/old/feed.xml": "/feed.xml", "/older.xml": "/old/feed.xml", "/gone.xml": "gone"})
    runtime = app.extensions["feeds"]
    export.export(runtime.current, runtime.store, tmp_path / "out", runtime.config.redirects)
    redirects = (tmp_path / "out" / "redirects.map").read_text(encoding="utf-8").splitlines()
    assert redirects[1:] == ['"/gone.xml" "gone";', '"/old/feed.xml" "/feed.xml";', '"/older.xml" "/feed.xml";']
    pages = (tmp_path / "out" / "pages.map").read_text(encoding="utf-8").splitlines()
    # 18 posts, 4 a page: old pages 2-5 of every scope, in three formats; the app's answers, entry for entry.
    client = app.test_client()
    site = [line for line in pages[1:] if line.startswith('"/page/')]
    assert len(site) == 4 * 3
    for line in pages[1:]:
        old, new = (part.strip('";') for part in line.split('" "'))
        assert client.get(old).headers["Location"] == "http://127.0.0.1:8000" + new, old
    cached = (tmp_path / "out" / "cache.map").read_text(encoding="utf-8").splitlines()[1:]
    assert cached and all(client.get(line.split('"')[1]).headers["Cache-Control"] == "public, max-age=86400" for line in cached)
    assert '"/archive/3/feed.xml" "86400";' in cached and not any(line.startswith('"/archive/4/') for line in cached)
