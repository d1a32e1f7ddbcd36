"""Settings as data: each has a name, a default, help text and a parser.

The same table drives loading (``feeds.toml`` < ``FEEDS_<KEY>`` environment <
explicit overrides), validation (a bad value names its key) and the README's
configuration section (``tests/test_config.py`` fails on an undocumented key).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.errors import ConfigError
from feeds.gitremote import GitRemote, check_branch, is_git_url, looks_like_url, parse_git_url, redact
from feeds.models import Author

ENV_PREFIX = "FEEDS_"
DEFAULT_FILE = "feeds.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    #: Turns a raw value (from TOML, or a string from the environment) into the typed one.
    parse: Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_string(value: Any) -> str | None:
    return _string(value) or None if value is not None else None


def _url(value: Any) -> str:
    text = _string(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment: {text!r}")
    return text.rstrip("/")


def _optional_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = _string(value).strip()
    if text.startswith("/"):
        return text  # a site-relative path, made absolute against site_url when used
    return _url(text)


def _positive_int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, str):
            if not re.fullmatch(r"\s*\d+\s*", value):
                raise ValueError(f"expected a whole number, got {value!r}")
            value = int(value)
        if not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


# BCP 47 language tag, the shape RSS <language> and xml:lang accept (en, en-US, zh-Hant-TW).
# https://www.rfc-editor.org/rfc/rfc5646
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def _language(value: Any) -> str:
    text = _string(value).strip()
    if not _LANGUAGE.fullmatch(text):
        hint = " (use '-', as in en-US)" if "_" in text else ""
        raise ValueError(f"not a language tag: {text!r}{hint}")
    return text


def _timezone(value: Any) -> ZoneInfo:
    name = _string(value).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def _author(value: Any) -> Author:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"invalid JSON: {e}") from e
        else:
            value = {"name": text}
    if not isinstance(value, Mapping):
        raise ValueError("expected a name or a table {name, email, url}")
    unknown = set(value) - {"name", "email", "url"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("needs a non-empty name")
    email = value.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email):
        raise ValueError(f"invalid email {email!r}")
    url = value.get("url")
    return Author(name=name.strip(), email=email or None, url=_url(url) if url else None)


def _permalink(value: Any) -> str:
    text = _string(value).strip()
    if not text.startswith("/") or "{slug}" not in text:
        raise ValueError("must start with '/' and contain {slug}")
    try:
        text.format(slug="x", year="2026", month="01", day="01")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"unknown placeholder {e}; use {{slug}}, {{year}}, {{month}}, {{day}}") from e
    return text


def _url_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of URLs")
    return tuple(_url(item) for item in value)


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of host names")
    hosts = tuple(_string(item).strip().lower() for item in value)
    for host in hosts:
        if not _HOST.match(host):
            raise ValueError(f"not a host name: {host!r} (no scheme, path or port)")
    return hosts


def _path(value: Any) -> Path:
    return Path(_string(value)).expanduser()


def _optional_path(value: Any) -> Path | None:
    text = _string(value).strip() if value is not None else ""
    return Path(text).expanduser() if text else None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _string(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _string(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _networks(value: Any) -> tuple[str, ...]:
    """Parse CIDRs or addresses (a list, or a comma/space separated string) into normalised network strings."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of addresses or networks (CIDR)")
    networks = []
    for item in value:
        try:
            networks.append(str(ipaddress.ip_network(_string(item).strip(), strict=False)))
        except ValueError as e:
            raise ValueError(f"not an address or network: {item!r}") from e
    return tuple(networks)


def _content_dir(value: Any) -> Path | GitRemote:
    text = _string(value)
    if is_git_url(text):
        return parse_git_url(text)
    if looks_like_url(text):
        raise ValueError(f"{redact(text)!r} is not a folder or a git URL; a git remote is written git+https://… or git+ssh://…")
    return _path(text)


def _optional_secret(value: Any) -> str | None:
    text = _optional_string(value)
    if text is not None and len(text) < 16:
        raise ValueError("must be at least 16 characters (use a random string, e.g. from `openssl rand -hex 32`)")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("site_url", "http://127.0.0.1:8000", "Public base URL of the site; every link in a feed is absolute against it.", _url),
    Setting("title", "feeds", "Site title, the title of the overall feeds.", _string),
    Setting("description", "Posts from this site.", "One-line description of the site.", _string),
    Setting("language", "en", "BCP 47 language tag of the content (en, en-US; not en_US).", _language),
    Setting("author", {"name": "feeds"}, "Site author {name, email, url}: the author of posts that name none.", _author),
    Setting("timezone", "UTC", "IANA time zone for naive dates in front matter.", _timezone),
    Setting(
        "content_dir",
        "content",
        "Folder of Markdown posts (relative to the working directory), or a git remote (git+https://…, git+ssh://…, file:///…#branch:folder).",
        _content_dir,
    ),
    Setting("permalink", "/posts/{slug}/", "Post URL pattern under site_url: {slug}, {year}, {month}, {day}.", _permalink),
    Setting("items_per_feed", 20, "Posts per feed page (RFC 5005 paging for older ones).", _positive_int(1, 1000)),
    Setting("scan_interval", 60, "Seconds between content scans; also the feeds' Cache-Control max-age.", _positive_int(1, 86400)),
    Setting("max_file_size", 1024 * 1024, "Largest post file read, in bytes; larger ones are skipped.", _positive_int(1, 1 << 30)),
    Setting("websub_hubs", [], "WebSub hub URLs to announce and ping when feeds change.", _url_list),
    Setting("rebuild_token", None, "Bearer token that enables POST /-/rebuild; off when unset.", _optional_string),
    Setting("icon", "/static/icon-512.png", "Square icon URL or site path, 512×512 (JSON Feed icon, RSS image).", _optional_url),
    Setting("favicon", "/static/favicon-64.png", "Small square icon URL or site path, 64×64 (JSON Feed favicon, Atom).", _optional_url),
    Setting("cache_dir", None, "Folder for rendered post HTML, so a restart renders nothing again; off when unset.", _optional_path),
    Setting("log_format", "kv", "Log line format: kv (key=value) or json.", _choice("kv", "json")),
    Setting(
        "snapshot_dir",
        None,
        "Folder where the one builder per host publishes the snapshot for every worker (default: a private folder in the system temp dir).",
        _optional_path,
    ),
    Setting("worker_header", False, "Add X-Feeds-Worker: <pid> to every response, to see which worker answered (tests, debugging).", _bool),
    Setting(
        "iframe_hosts", [], "Hosts whose <iframe> embeds posts may keep (www.youtube-nocookie.com); other iframes are removed.", _host_list
    ),
    Setting("memory_cache_mb", 16, "MiB of answers each worker keeps in memory for repeated requests (0: none).", _positive_int(0, 4096)),
    Setting(
        "poll_limit",
        120,
        "Full answers (not 304) one client gets for one feed URL per poll_window, per worker; more get 429 with Retry-After. 0: off.",
        _positive_int(0, 1_000_000),
    ),
    Setting("poll_window", 60, "Seconds over which poll_limit and rebuild_failure_limit are counted.", _positive_int(1, 86400)),
    Setting(
        "rebuild_failure_limit",
        10,
        "Wrong-token POST /-/rebuild per client per poll_window, per worker; more get 429 before the token is compared. 0: off.",
        _positive_int(0, 1_000_000),
    ),
    Setting(
        "trusted_proxies",
        ["127.0.0.1", "::1"],
        "Proxies (addresses or CIDRs) whose X-Forwarded-For names the client; the right-most address not in them is the client.",
        _networks,
    ),
    Setting(
        "content_branch",
        "main",
        "Branch to build from when content_dir is a git remote without a #branch suffix.",
        lambda value: check_branch(_string(value).strip()),
    ),
    Setting(
        "webhook_secret",
        None,
        "Shared secret that lets POST /-/rebuild accept signed push webhooks (GitHub, Gitea, Forgejo, GitLab); off when unset.",
        _optional_secret,
    ),
    Setting("git_timeout", 60, "Seconds any one git command (a fetch, a checkout) may take before it is stopped.", _positive_int(1, 3600)),
)

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


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
    scan_interval: int
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

    def summary(self) -> dict[str, Any]:
        """Return the settings as plain values for a start-up log line, secrets hidden."""
        values = {name: getattr(self, name) for name in SETTINGS_BY_NAME}
        values["rebuild_token"] = "set" if self.rebuild_token else "unset"
        values["webhook_secret"] = "set" if self.webhook_secret else "unset"
        values["author"] = self.author.name
        values["timezone"] = str(self.timezone)
        values["content_dir"] = str(self.content_dir)
        values["websub_hubs"] = ",".join(self.websub_hubs)
        values["iframe_hosts"] = ",".join(self.iframe_hosts)
        values["trusted_proxies"] = ",".join(self.trusted_proxies)
        values["snapshot_dir"] = str(self.snapshot_dir or "auto")
        return values


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
    return Config(**values)
