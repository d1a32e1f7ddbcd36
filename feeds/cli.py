"""The ``feeds`` command: serve, build, check."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from feeds.config import Config, load_config
from feeds.content.index import ContentIndex
from feeds.content.site import select
from feeds.errors import ConfigError, ContentRootError

_config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: feeds.toml).")
_content_option = click.option("--content", "content_dir", type=click.Path(file_okay=False), help="Content folder (overrides content_dir).")


def _load(config_file: str | None, content_dir: str | None) -> Config:
    overrides: dict[str, Any] = {"content_dir": content_dir} if content_dir else {}
    try:
        return load_config(config_file, overrides=overrides)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e


@click.group()
@click.version_option(package_name="feeds")
def main() -> None:
    """Serve RSS, Atom and JSON feeds of a folder of Markdown posts."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@_content_option
@_config_option
def serve(host: str, port: int, content_dir: str | None, config_file: str | None) -> None:
    """Run the service with the development server (use gunicorn in production)."""
    from feeds.web.app import create_app

    overrides: dict[str, Any] = {"content_dir": content_dir} if content_dir else {}
    try:
        app = create_app(overrides, config_file=config_file, scheduler=True)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    # SIGTERM (systemd, docker, tests) ends the server like Ctrl-C, so the scheduler stops cleanly.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["feeds"].stop()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@_content_option
@_config_option
def build(out_dir: str, content_dir: str | None, config_file: str | None) -> None:
    """Write every feed, page and .gz copy as static files."""
    from feeds import log
    from feeds.snapshot import build as snapshot
    from feeds.snapshot.export import export

    config = _load(config_file, content_dir)
    log.configure(config.log_format)
    try:
        scan = ContentIndex(config).scan()
    except ContentRootError as e:
        raise click.ClickException(str(e)) from e
    snap = snapshot.build(scan, config, datetime.now(UTC))
    count = export(snap, Path(out_dir))
    for problem in snap.problems:
        click.echo(str(problem), err=True)
    click.echo(f"wrote {count} files for {snap.post_count} posts and {len(snap.tags)} tags to {out_dir} (version {snap.version})")


@main.command()
@_content_option
@_config_option
def check(content_dir: str | None, config_file: str | None) -> None:
    """Validate the content; print problems as path:line: message; exit 1 on any error."""
    config = _load(config_file, content_dir)
    try:
        scan = ContentIndex(config).scan()
    except ContentRootError as e:
        raise click.ClickException(str(e)) from e
    site = select(scan.posts, datetime.now(UTC))
    problems = sorted(scan.problems + site.problems, key=lambda p: (p.path, p.line, p.message))
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{len(scan.posts)} posts, {len(site.posts)} published, {errors} errors, {warnings} warnings", err=True)
    if errors:
        raise SystemExit(1)
