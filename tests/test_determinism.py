"""Two hosts with the same content and settings build byte-identical feeds, ETags and dates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from .conftest import SAMPLE, SITE_CONFIG


def _host(root: Path, *, hash_seed: str, reverse_env: bool, tz: str) -> Path:
    """Build the sample site as another machine would: own folders, own environment."""
    (root / "work").mkdir(parents=True)
    shutil.copytree(SAMPLE, root / "posts")
    (root / "site.toml").write_text(SITE_CONFIG, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PYTHONHASHSEED", "TZ", "LC_", "LANG"))}
    extra = {"PYTHONHASHSEED": hash_seed, "TZ": tz, "LANG": "C.UTF-8" if reverse_env else "en_US.UTF-8"}
    items = list({**base, **extra}.items())
    env = dict(reversed(items) if reverse_env else items)
    out = root / "out"
    result = subprocess.run(
        [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(root / "posts"), "--config", str(root / "site.toml")],
        cwd=root / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return out


def _tree(out: Path) -> dict[str, tuple[bytes, float]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime) for p in sorted(out.rglob("*")) if p.is_file()}


def _manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return data


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hosts")
    one = _host(root / "host-a", hash_seed="1", reverse_env=False, tz="UTC")
    two = _host(root / "host-b", hash_seed="4242", reverse_env=True, tz="Asia/Tokyo")
    return one, two


def test_two_processes_with_different_cwd_env_order_and_hash_seed_build_the_same_bytes(hosts: tuple[Path, Path]) -> None:
    one, two = hosts

    a, b = _tree(one), _tree(two)
    assert a.keys() == b.keys()
    assert len(a) > 300
    differing = [name for name in a if name != "manifest.json" and a[name] != b[name]]
    assert differing == [], differing  # bytes and mtimes (Last-Modified) alike

    manifest_a, manifest_b = _manifest(one), _manifest(two)
    manifest_a.pop("built_at"), manifest_b.pop("built_at")  # the one wall-clock field
    assert manifest_a == manifest_b  # version, every ETag, page counts, tags, problems, next change


def test_the_build_time_is_in_no_body(hosts: tuple[Path, Path]) -> None:
    out = hosts[0]
    built_at = datetime.fromisoformat(_manifest(out)["built_at"])
    stamps = [built_at.isoformat()[:16], format_datetime(built_at)[:22], built_at.strftime("%Y-%m-%dT%H:%M")]
    for name, (data, _) in _tree(out).items():
        if name.endswith((".xml", ".json", ".html", ".opml")) and name != "manifest.json":
            text = data.decode("utf-8")
            assert not any(stamp in text for stamp in stamps), name
