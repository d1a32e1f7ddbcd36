"""The settings in force: ``Config``, loaded from ``feeds.toml``, ``FEEDS_<KEY>`` variables and overrides.

Each setting is data in ``feeds.settings`` (name, default, help, parser): the same table
drives loading, validation (a bad value names its key) and the manual's settings reference.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from feeds.errors import ConfigError
from feeds.gitremote import GitRemote
from feeds.models import Author
from feeds.options import FeedOptions, Redirect, Section, TagSettings
from feeds.podcast import Show, settings_key
from feeds.settings import SETTINGS, SETTINGS_BY_NAME

ENV_PREFIX = "FEEDS_"
DEFAULT_FILE = "feeds.toml"


@dataclass(frozen=True)
class Config:
    site_url: str
    title: str
    description: str
    language: str
    author: Author
    timezone: ZoneInfo
    content_dir: Path | GitRemote
    permalink: str
    items_per_feed: int
    feed_content: str
    tag_feeds: FeedOptions
    author_feeds: FeedOptions
    sections: tuple[Section, ...]
    tags: tuple[TagSettings, ...]
    #: The site-wide show, when the site's feeds are a podcast.
    podcast: Show | None
    redirects: tuple[Redirect, ...]
    scan_interval: int
    watch: bool
    max_file_size: int
    websub_hubs: tuple[str, ...]
    rebuild_token: str | None
    icon: str | None
    favicon: str | None
    cache_dir: Path | None
    log_format: str
    snapshot_dir: Path | None
    worker_header: bool
    iframe_hosts: tuple[str, ...]
    memory_cache_mb: int
    poll_limit: int
    poll_window: int
    rebuild_failure_limit: int
    #: Normalised network strings ("127.0.0.1/32", "::1/128").
    trusted_proxies: tuple[str, ...]
    content_branch: str
    webhook_secret: str | None
    git_timeout: int
    publish_url: str | None
    publish_endpoint: str | None
    publish_region: str | None
    publish_purge_command: str | None
    publish_purge_url: str | None
    publish_on_rebuild: bool
    database_url: str | None
    stats: bool
    stats_token: str | None
    stats_retention: int
    stats_flush_interval: int
    fediverse: bool
    fediverse_name: str
    #: Normalised networks ("127.0.0.0/8") and lower-case host names.
    fediverse_allowed_private: tuple[str, ...]
    fediverse_blocked_domains: tuple[str, ...]

    @property
    def post_pages(self) -> bool:
        """Whether each post has an HTML page here (``permalink`` is a site path, not a URL elsewhere)."""
        return self.permalink.startswith("/")

    @property
    def feed_options(self) -> FeedOptions:
        """The site-wide feed options, every one set."""
        return FeedOptions(self.items_per_feed, self.feed_content)

    def section(self, slug: str) -> Section | None:
        """The ``[sections.<slug>]`` settings of a section, if any."""
        return next((section for section in self.sections if section.slug == slug), None)

    def tag(self, slug: str) -> TagSettings | None:
        """The ``[tags.<slug>]`` settings of a tag, if any."""
        return next((tag for tag in self.tags if tag.slug == slug), None)

    def options(self, kind: str, slug: str = "") -> FeedOptions:
        """The feed options of a scope (every one set): the site's, overridden for tags (then one tag), authors, a section."""
        base = self.feed_options
        if kind == "tag":
            return (self.tag(slug) or TagSettings(slug)).options.over(self.tag_feeds.over(base))
        if kind == "author":
            return self.author_feeds.over(base)
        section = self.section(slug) if kind == "section" else None
        return section.options.over(base) if section is not None else base

    def show(self, kind: str, slug: str = "") -> Show | None:
        """The podcast show a scope's feeds are: ``[podcast]`` for the site, ``[sections|tags.<slug>.podcast]``; else None."""
        found = self if kind == "site" else self.section(slug) if kind == "section" else self.tag(slug) if kind == "tag" else None
        return found.podcast if found is not None else None

    def shows(self) -> list[tuple[str, str, Show]]:
        """Every show configured as (scope kind, slug, show): the site's, each section's, each tag's."""
        found = [("site", "", self.podcast)] if self.podcast is not None else []
        found += [("section", s.slug, s.podcast) for s in self.sections if s.podcast is not None]
        return found + [("tag", t.slug, t.podcast) for t in self.tags if t.podcast is not None]

    def summary(self) -> dict[str, Any]:
        """Return the settings as plain values for a start-up log line, secrets hidden."""
        values = {name: getattr(self, name) for name in SETTINGS_BY_NAME}
        values["rebuild_token"] = "set" if self.rebuild_token else "unset"
        values["webhook_secret"] = "set" if self.webhook_secret else "unset"
        values["stats_token"] = "set" if self.stats_token else "unset"
        values["database_url"] = database_display(self.database_url) if self.database_url else "auto"
        values["author"] = self.author.name
        values["timezone"] = str(self.timezone)
        values["content_dir"] = str(self.content_dir)
        values["websub_hubs"] = ",".join(self.websub_hubs)
        values["iframe_hosts"] = ",".join(self.iframe_hosts)
        values["trusted_proxies"] = ",".join(self.trusted_proxies)
        values["snapshot_dir"] = str(self.snapshot_dir or "auto")
        values["fediverse_allowed_private"] = ",".join(self.fediverse_allowed_private)
        values["fediverse_blocked_domains"] = ",".join(self.fediverse_blocked_domains)
        values["redirects"] = len(self.redirects)
        for name in ("tag_feeds", "author_feeds"):
            options = getattr(self, name)
            values[name] = f"{options.items_per_feed or '-'},{options.feed_content or '-'}"
        values["sections"] = ",".join(section.slug for section in self.sections)
        values["tags"] = ",".join(tag.slug for tag in self.tags)
        values["podcast"] = ",".join(settings_key(kind, slug) for kind, slug, _ in self.shows()) or "off"
        return values


def database_display(url: str) -> str:
    """Return a database URL without its password (for logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def find_config_file(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """Return the config file to read: ``explicit``, ``$FEEDS_CONFIG`` or ``./feeds.toml``."""
    if explicit:
        return Path(explicit)
    if env.get("FEEDS_CONFIG"):
        return Path(env["FEEDS_CONFIG"])
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a ``feeds.toml``; an unreadable or invalid file is a ConfigError."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError("config", f"file not found: {path}") from e
    except OSError as e:
        raise ConfigError("config", f"cannot read {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", f"{path}: invalid TOML: {e}") from e
    return data


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load settings: defaults, then the file, then ``FEEDS_*`` variables, then overrides."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    file = find_config_file(path, env)
    if file is not None:
        for key, value in read_config_file(file).items():
            if key not in SETTINGS_BY_NAME:
                raise ConfigError(key, f"unknown setting in {file}")
            raw[key] = value
    for setting in SETTINGS:
        variable = ENV_PREFIX + setting.name.upper()
        if variable in env:
            raw[setting.name] = env[variable]
    for key, value in (overrides or {}).items():
        if key not in SETTINGS_BY_NAME:
            raise ConfigError(key, "unknown setting")
        raw[key] = value
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        try:
            values[setting.name] = setting.parse(raw[setting.name])
        except ValueError as e:
            raise ConfigError(setting.name, str(e)) from e
    permalink = values["permalink"]
    if not permalink.startswith("/") and permalink.startswith(values["site_url"] + "/"):
        raise ConfigError("permalink", "is under site_url: write it as a path (/posts/{slug}/) so the service serves the pages")
    return Config(**values)
