"""Settings as data: each has a name, a default, help text and a parser.

The same table drives loading (``feeds.toml`` < ``FEEDS_<KEY>`` environment <
explicit overrides), validation (a bad value names its key) and the README's
configuration section (``tests/test_config.py`` fails on an undocumented key).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .models import Author

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


# Publishing to a bucket (issue 12). Credentials are never settings: boto3 reads them from the AWS environment.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _optional_s3_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = _string(value).strip()
    parts = urlsplit(text)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"expected s3://bucket/prefix, got {text!r}")
    if not _BUCKET.fullmatch(parts.netloc) or ".." in parts.netloc:
        raise ValueError(f"not an S3 bucket name (3-63 lower-case letters, digits, '.', '-'): {parts.netloc!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment: {text!r}")
    segments = [segment for segment in parts.path.split("/") if segment]
    if any(segment in (".", "..") or any(c.isspace() or ord(c) < 32 for c in segment) for segment in segments):
        raise ValueError(f"invalid prefix {parts.path!r}")
    return f"s3://{parts.netloc}" + "".join("/" + segment for segment in segments)


def _optional_http_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = _string(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {text!r}")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials (the URL is logged at start)")
    return text


def _optional_command(value: Any) -> str | None:
    text = _string(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        shlex.split(text)
    except ValueError as e:
        raise ValueError(f"cannot split {text!r} into words: {e}") from e
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting("site_url", "http://127.0.0.1:8000", "Public base URL of the site; every link in a feed is absolute against it.", _url),
    Setting("title", "feeds", "Site title, the title of the overall feeds.", _string),
    Setting("description", "Posts from this site.", "One-line description of the site.", _string),
    Setting("language", "en", "BCP 47 language tag of the content (en, en-US; not en_US).", _language),
    Setting("author", {"name": "feeds"}, "Site author {name, email, url}: the author of posts that name none.", _author),
    Setting("timezone", "UTC", "IANA time zone for naive dates in front matter.", _timezone),
    Setting("content_dir", "content", "Folder of Markdown posts (relative to the working directory).", _path),
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
    Setting("publish_url", None, "Bucket `feeds publish` copies the snapshot to, as s3://bucket/prefix; off when unset.", _optional_s3_url),
    Setting(
        "publish_endpoint",
        None,
        "S3 API endpoint for a store other than AWS (default: boto3's own, from AWS_ENDPOINT_URL or the AWS config).",
        _optional_http_url,
    ),
    Setting("publish_region", None, "Region of the bucket (default: boto3's own, from AWS_REGION or the AWS config).", _optional_string),
    Setting(
        "publish_purge_command",
        None,
        "Command run after each publish that changed something, with the changed absolute URLs on stdin, one a line (CDN purge).",
        _optional_command,
    ),
    Setting(
        "publish_purge_url",
        None,
        'URL POSTed {"urls": [...]} with the changed absolute URLs after each publish that changed something (CDN purge hook).',
        _optional_http_url,
    ),
    Setting("publish_on_rebuild", False, "Publish to publish_url after every rebuild, from the host's builder (one host only).", _bool),
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
    content_dir: Path
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
    publish_url: str | None
    publish_endpoint: str | None
    publish_region: str | None
    publish_purge_command: str | None
    publish_purge_url: str | None
    publish_on_rebuild: bool

    def absolute(self, url_or_path: str) -> str:
        """Return ``url_or_path`` as an absolute URL (site paths join ``site_url``)."""
        if url_or_path.startswith("/") and not url_or_path.startswith("//"):
            return self.site_url + url_or_path
        return url_or_path

    def summary(self) -> dict[str, Any]:
        """Return the settings as plain values for a start-up log line, secrets hidden."""
        values = {name: getattr(self, name) for name in SETTINGS_BY_NAME}
        values["rebuild_token"] = "set" if self.rebuild_token else "unset"
        values["author"] = self.author.name
        values["timezone"] = str(self.timezone)
        values["content_dir"] = str(self.content_dir)
        values["websub_hubs"] = ",".join(self.websub_hubs)
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
