"""feeds build and feeds check, run as real commands."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from flask import Flask

from feeds.urls import file_name

from .conftest import published


def _feeds(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feeds", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_build_writes_the_bytes_the_service_serves(tmp_path: Path, content: Path, config_file: Path, app: Flask) -> None:
    out = tmp_path / "out"
    result = _feeds("build", "--out", str(out), "--content", str(content), "--config", str(config_file), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runtime = app.extensions["feeds"]
    client = app.test_client()
    documents = {path: body for path, body in published(app).items() if not path.startswith("/_views/")}
    for path, body in documents.items():
        exported = out / file_name(path)
        served = client.get(path).data
        assert exported.read_bytes() == served == body, path
        assert gzip.decompress((out / (file_name(path) + ".gz")).read_bytes()) == served
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == runtime.current.version
    media = {file_name(path) for path in runtime.current.media}
    assert media and all((out / name).read_bytes() == client.get("/" + name).data for name in media)
    assert set(manifest["files"]) == {file_name(path) for path in documents} | media
    assert not (out / "_views").exists()  # browser views need the app's negotiation
    assert (out / "tags" / "pub-sub" / "atom.xml").is_file()


def test_check_passes_on_the_sample_content(tmp_path: Path, content: Path, config_file: Path) -> None:
    result = _feeds("check", "--content", str(content), "--config", str(config_file), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "21 published" in result.stderr


def test_check_reports_path_line_message_and_exits_1(tmp_path: Path, content: Path, config_file: Path) -> None:
    (content / "2026-07-01-broken.md").write_text("---\ntitle: Broken\ndate: 2026-13-45\n---\nx\n")
    result = _feeds("check", "--content", str(content), "--config", str(config_file), cwd=tmp_path)
    assert result.returncode == 1
    assert "2026-07-01-broken.md:3: date: " in result.stdout


def test_bad_config_names_the_key(tmp_path: Path, content: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('language = "en_US"\n')
    result = _feeds("check", "--content", str(content), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "language" in result.stderr and "en_US" in result.stderr


def test_stats_before_anything_was_counted_says_so(tmp_path: Path, content: Path, config_file: Path) -> None:
    (tmp_path / "snapshot").mkdir()
    config = tmp_path / "stats.toml"
    config.write_text(f'snapshot_dir = "{tmp_path / "snapshot"}"\n' + config_file.read_text())
    result = _feeds("stats", "--content", str(content), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and "no counts yet" in result.stderr and "feeds.db does not exist" in result.stderr
