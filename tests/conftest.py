"""Shared fixtures: a copy of the sample content, the app, a client, a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.web.app import create_app, stop

from . import postgres as pg
from .server import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "content"
DATA = Path(__file__).resolve().parent / "data"

SITE_CONFIG = """\
site_url = "http://127.0.0.1:8000"
title = "Test Notes"
description = "A test site."
language = "en"
timezone = "UTC"
items_per_feed = 20
scan_interval = 60

[author]
name = "Test Author"
email = "author@example.com"

[sections.podcast]
title = "Tones and Overtones"
description = "A tiny sample show: a few seconds of tones an episode, with transcripts and chapters."
site_feeds = false
items_per_feed = 100

[sections.podcast.podcast]
category = "Science > Physics"
explicit = false
author = "Sample Studio"
owner = { name = "Sample Studio", email = "studio@example.com" }
image = "/media/cover.png"
locked = true
funding = { url = "https://example.com/support", text = "Support the show" }
"""
#: Added to SITE_CONFIG: the sample's tag "tones" as its own show, 2 episodes a feed so that its 3 episodes make an archive.
TAG_SHOW_CONFIG = """
[tags.tones]
items_per_feed = 2

[tags.tones.podcast]
category = "Music > Music Commentary"
explicit = false
owner = { name = "Sample Studio", email = "studio@example.com" }
image = "/media/cover.png"
"""


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A private copy of the sample blog's content folder."""
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(SITE_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def make_app(content: Path, config_file: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app over the ``content`` copy; keyword arguments override settings."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        settings = {"content_dir": str(content), "snapshot_dir": str(content.parent / f"snapshot-{len(apps)}"), **overrides}
        app = create_app(settings, config_file=config_file, env={})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        stop(app)


def published(app: Flask) -> dict[str, bytes]:
    """Every document the app's runtime serves now, by path (browser views under /_views/ included)."""
    runtime = app.extensions["feeds"]
    return {path: runtime.store.read(item.etag) for path, item in runtime.current.items.items()}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server(content: Path, config_file: Path) -> Iterator[ServerProcess]:
    """A real ``feeds serve`` process over the ``content`` copy."""
    with ServerProcess(content, config_file) as process:
        yield process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server over the sample content, shared by a module's read-only tests."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    with ServerProcess(root / "content", root / "feeds.toml") as process:
        yield process


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.PostgresCluster]:
    """One private PostgreSQL cluster per test process (initdb in a temp folder, a free 127.0.0.1 port), stopped at the end."""
    if pg.find_bindir() is None:
        message = "no PostgreSQL server binaries: `make test-deps` (as root) installs Debian's postgresql, or set PG_BINDIR"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with pg.cluster() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once SQLite (a file in tmp_path) and once PostgreSQL (a new database in the session's cluster)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feeds.db'}"
    cluster: pg.PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()
