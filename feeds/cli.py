"""The ``feeds`` command: serve, build, publish, check, empty."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from feeds.config import DEFAULT_FILE, Config, find_config_file, load_config
from feeds.content import podcast_check
from feeds.content.errors import ContentRootError
from feeds.content.files import EMPTY_MARKER
from feeds.content.index import ContentIndex
from feeds.content.media import Media, MediaIndex, fill_lengths
from feeds.content.site import select
from feeds.errors import ConfigError
from feeds.fsutil import atomic_write
from feeds.render.plan import plan
from feeds.render.scopes import scopes

if TYPE_CHECKING:
    from feeds.service.runtime import Runtime
    from feeds.snapshot.manifest import Manifest

_config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: feeds.toml).")
_content_option = click.option("--content", "content_dir", type=click.Path(file_okay=False), help="Content folder (overrides content_dir).")


def _overrides(content_dir: str | None) -> dict[str, Any]:
    return {"content_dir": content_dir} if content_dir else {}


def _load(config_file: str | None, content_dir: str | None) -> Config:
    try:
        return load_config(config_file, overrides=_overrides(content_dir))
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
    """Run the service in one process (the production runtime, with Werkzeug's server; use granian in production)."""
    from feeds.web.app import create_app, stop

    try:
        app = create_app(_overrides(content_dir) or None, config_file=config_file, schedule=True, wait=False)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    # SIGTERM (systemd, docker, tests) ends the server like Ctrl-C, so the builder stops cleanly.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        stop(app)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _built(config: Config) -> Iterator[tuple[Runtime, Manifest]]:
    """Build the snapshot in snapshot_dir, as the service does (or, if a service builds there, ask it to), and yield it."""
    from feeds import log
    from feeds.service.compose import compose

    log.configure(config.log_format)
    try:
        services = compose(config, schedule=False, publishing=False)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    runtime = services.runtime.start(watch=False)
    try:
        if runtime.builder is not None:
            runtime.builder_run()
        else:  # a running service builds for this snapshot folder: ask it, then use what it publishes
            runtime.rebuild()
        if not runtime.wait_for(lambda m: m is not None and m.complete, 600) or runtime.current is None:
            raise click.ClickException(runtime.builder_status().error or "no complete snapshot was published")
        yield runtime, runtime.current
    finally:
        services.stop()


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@_content_option
@_config_option
def build(out_dir: str, content_dir: str | None, config_file: str | None) -> None:
    """Build the snapshot (in snapshot_dir, as the service does) and write every feed, page and .gz copy as static files."""
    from feeds.snapshot.export import export

    with _built(_load(config_file, content_dir)) as (runtime, manifest):
        count = export(manifest, runtime.store, Path(out_dir), runtime.config.redirects)
    for problem in manifest.problems:
        click.echo(str(problem), err=True)
    if manifest.problems_omitted:
        click.echo(f"… and {manifest.problems_omitted:,} more problems (`feeds check` lists them all)", err=True)
    summary = f"{manifest.post_count} posts and {len(manifest.tags)} tags"
    click.echo(f"wrote {count} files for {summary} to {out_dir} (version {manifest.version})")


@main.command()
@click.option("--force", is_flag=True, help="Upload every object again, whatever the bucket's manifest says.")
@_content_option
@_config_option
def publish(force: bool, content_dir: str | None, config_file: str | None) -> None:
    """Build the snapshot and copy what changed to the bucket at publish_url; then ping the WebSub hubs."""
    from feeds.service.publish import PublishError, publish_from_config
    from feeds.service.websub import Publisher
    from feeds.snapshot.view import StoreView

    config = _load(config_file, content_dir)
    if not config.publish_url:
        raise click.ClickException("config publish_url: not set (s3://bucket/prefix)")
    with _built(config) as (runtime, manifest):
        try:
            report = publish_from_config(StoreView(manifest, runtime.store), config, force=force)
        except PublishError as e:
            raise click.ClickException(str(e)) from e
    if config.websub_hubs and report.topics:
        pinger = Publisher(config.websub_hubs, config.site_url).start()
        pinger.publish(report.topics)
        pinger.wait_idle(60)
        pinger.stop()
    click.echo(" ".join(f"{key}={value}" for key, value in report.fields().items()))


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
    media = MediaIndex().scan(config.content_dir)[0] if isinstance(config.content_dir, Path) else Media()
    site = select(fill_lengths(scan.posts, media, config.site_url), datetime.now(UTC), config.author.name)
    planned = plan(site, config)  # redirects to no document, post pages on another document's path
    where = str(find_config_file(config_file, os.environ) or DEFAULT_FILE)
    episodes = {(s.kind, s.slug): s.posts for s in scopes(site, config).all}
    shows = podcast_check.site_problems(config, episodes, media, where)
    found = scan.problems + media.problems + site.problems + planned.problems + tuple(shows)
    problems = sorted(found, key=lambda p: (p.path, p.line, p.message))
    for problem in problems:
        click.echo(str(problem))
    for kept in _published_kept(config):
        click.echo(f"{kept.path}:1: served from its last good version since {kept.since.isoformat()} ({kept.reason})")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{len(scan.posts)} posts, {len(site.posts)} published, {errors} errors, {warnings} warnings", err=True)
    if errors:
        raise SystemExit(1)


def _published_kept(config: Config) -> list[Any]:
    """The posts the published snapshot (if any) serves from a kept version."""
    from feeds.service.folders import default_dir
    from feeds.snapshot.store import Store

    folder = config.snapshot_dir or default_dir(config)
    manifest = Store(folder).load_current() if folder.is_dir() else None
    return list(manifest.kept) if manifest else []


@main.command()
@_content_option
@_config_option
def empty(content_dir: str | None, config_file: str | None) -> None:
    """Publish an empty site on purpose: mark the content folder so that having no posts is not taken for a lost volume."""
    config = _load(config_file, content_dir)
    folder = config.content_dir
    if not isinstance(folder, Path):
        raise click.ClickException(f"content_dir is a git remote: commit an empty {EMPTY_MARKER} file to its branch instead")
    if not folder.is_dir():
        raise click.ClickException(f"{folder}: content folder not found")
    try:
        atomic_write(folder / EMPTY_MARKER, b"This folder may have no posts: feeds then publishes an empty site (see `feeds empty`).\n")
    except OSError as e:
        raise click.ClickException(f"{folder / EMPTY_MARKER}: {e.strerror}") from e
    click.echo(f"marked {folder} (wrote {EMPTY_MARKER}); the next scan publishes whatever posts it holds, none included")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print every count as JSON (by feed, source and format).")
@_content_option
@_config_option
def stats(as_json: bool, content_dir: str | None, config_file: str | None) -> None:
    """Print subscriber counts per feed, as every worker wrote them to the database (see docs/subscribers.md)."""
    import json
    import time

    from feeds.db import DatabaseError, default_url, open_database
    from feeds.service.folders import default_dir
    from feeds.service.subscribers import follower_counts
    from feeds.stats.counts import group
    from feeds.stats.store import current

    config = _load(config_file, content_dir)
    folder = config.snapshot_dir or default_dir(config)
    if not config.database_url and not (folder / "feeds.db").is_file():
        raise click.ClickException(f"no counts yet: {default_url(folder)} does not exist (the service creates it as it counts)")
    try:
        database = open_database(config, folder)
        try:
            with database.read() as connection:
                counts = current(connection, time.time(), follower_counts(config))
        finally:
            database.close()
    except DatabaseError as e:
        raise click.ClickException(str(e)) from e
    feeds = counts.ordered()
    if as_json:
        total = sum(feed.total for feed in feeds)
        document = {"at": counts.at.isoformat().replace("+00:00", "Z"), "subscribers": total, "feeds": [feed.fields() for feed in feeds]}
        click.echo(json.dumps(document, indent=2))
        return
    width = max([len(feed.feed) for feed in feeds] + [len("FEED")])
    click.echo(f"{'FEED':<{width}}  {'SUBSCRIBERS':>11}  {'AGGREGATORS':>11}  {'DIRECT':>6}  {'FEDIVERSE':>9}")
    for feed in feeds:
        groups = {
            name: sum(n for source, n in feed.sources.items() if group(source) == name) for name in ("aggregators", "direct", "fediverse")
        }
        click.echo(f"{feed.feed:<{width}}  {feed.total:>11}  {groups['aggregators']:>11}  {groups['direct']:>6}  {groups['fediverse']:>9}")
    click.echo(f"{sum(feed.total for feed in feeds)} subscribers in {len(feeds)} feeds with any", err=True)
