"""Parsers of setting values: each turns a raw value (TOML, or a string from the environment) into a typed one.

Each raises ValueError with a message for the user; ``feeds.config`` adds the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.gitremote import GitRemote, is_git_url, looks_like_url, parse_git_url, redact
from feeds.models import Author


def as_string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def as_optional_string(value: Any) -> str | None:
    return as_string(value) or None if value is not None else None


def as_url(value: Any) -> str:
    text = as_string(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment: {text!r}")
    return text.rstrip("/")


def as_optional_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = as_string(value).strip()
    if text.startswith("/"):
        return text  # a site-relative path, made absolute against site_url when used
    return as_url(text)


def as_positive_int(low: int, high: int) -> Callable[[Any], int]:
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


def as_language(value: Any) -> str:
    text = as_string(value).strip()
    if not _LANGUAGE.fullmatch(text):
        hint = " (use '-', as in en-US)" if "_" in text else ""
        raise ValueError(f"not a language tag: {text!r}{hint}")
    return text


def as_timezone(value: Any) -> ZoneInfo:
    name = as_string(value).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e


def as_author(value: Any) -> Author:
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
    return Author(name=name.strip(), email=email or None, url=as_url(url) if url else None)


def as_permalink(value: Any) -> str:
    """A post URL pattern: a path under site_url (``/posts/{slug}/``), or an absolute URL where the blog lives elsewhere."""
    text = as_string(value).strip()
    if "{slug}" not in text:
        raise ValueError("must contain {slug}")
    if not text.startswith("/"):
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("must be a path starting with '/' or an absolute http(s) URL without query or fragment")
        if "{" in parts.netloc:
            raise ValueError("placeholders may only be in the path")
    try:
        text.format(slug="x", year="2026", month="01", day="01")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"unknown placeholder {e}; use {{slug}}, {{year}}, {{month}}, {{day}}") from e
    return text


def as_url_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of URLs")
    return tuple(as_url(item) for item in value)


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


def as_host_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of host names")
    hosts = tuple(as_string(item).strip().lower() for item in value)
    for host in hosts:
        if not _HOST.match(host):
            raise ValueError(f"not a host name: {host!r} (no scheme, path or port)")
    return hosts


def as_path(value: Any) -> Path:
    return Path(as_string(value)).expanduser()


def as_optional_path(value: Any) -> Path | None:
    text = as_string(value).strip() if value is not None else ""
    return Path(text).expanduser() if text else None


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = as_string(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def as_choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = as_string(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def as_networks(value: Any) -> tuple[str, ...]:
    """Parse CIDRs or addresses (a list, or a comma/space separated string) into normalised network strings."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of addresses or networks (CIDR)")
    networks = []
    for item in value:
        try:
            networks.append(str(ipaddress.ip_network(as_string(item).strip(), strict=False)))
        except ValueError as e:
            raise ValueError(f"not an address or network: {item!r}") from e
    return tuple(networks)


def as_content_dir(value: Any) -> Path | GitRemote:
    text = as_string(value)
    if is_git_url(text):
        return parse_git_url(text)
    if looks_like_url(text):
        raise ValueError(f"{redact(text)!r} is not a folder or a git URL; a git remote is written git+https://… or git+ssh://…")
    return as_path(text)


def as_optional_secret(value: Any) -> str | None:
    text = as_optional_string(value)
    if text is not None and len(text) < 16:
        raise ValueError("must be at least 16 characters (use a random string, e.g. from `openssl rand -hex 32`)")
    return text


# Publishing to a bucket (issue 12). Credentials are never settings: boto3 reads them from the AWS environment.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def as_optional_s3_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = as_string(value).strip()
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


def as_optional_http_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = as_string(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {text!r}")
    if parts.username or parts.password:
        raise ValueError("must not hold credentials (the URL is logged at start)")
    return text


def as_optional_command(value: Any) -> str | None:
    text = as_string(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        shlex.split(text)
    except ValueError as e:
        raise ValueError(f"cannot split {text!r} into words: {e}") from e
    return text


# The database (issues 17, 18): SQLite for one host, PostgreSQL (psycopg 3) for several.
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def as_optional_database_url(value: Any) -> str | None:
    """A ``sqlite:///PATH`` or ``postgresql://…`` URL; the value is never echoed (it may hold a password)."""
    if value in (None, ""):
        return None
    text = as_string(value).strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DATABASE_SCHEMES:
        shown = scheme[:20] or "none"
        raise ValueError(f"expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE, got the scheme {shown!r}")
    if scheme == "sqlite":
        if parts.netloc or parts.path in ("", "/") or parts.path == "/:memory:":
            raise ValueError("expected sqlite:///relative/path or sqlite:////absolute/path (a file every worker opens)")
    elif not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ValueError("a postgresql:// URL must name its database (postgresql://USER@HOST/DATABASE)")
    return text


#: A fediverse user name Mastodon accepts (its Account::USERNAME_RE), lower case.
ACCOUNT_NAME = re.compile(r"^[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*$")


def as_account_name(value: Any) -> str:
    text = as_string(value).strip().lower()
    if len(text) > 64 or not ACCOUNT_NAME.match(text):
        raise ValueError(f"not a fediverse user name: {text[:64]!r} (letters, digits, _ and inner . or -)")
    return text


def as_private_allow_list(value: Any) -> tuple[str, ...]:
    """Parse addresses, CIDRs or host names (a list, or a comma/space separated string) that private fetches may reach."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ValueError("expected a list of addresses, networks (CIDR) or host names")
    allowed = []
    for item in value:
        text = as_string(item).strip().lower()
        try:
            allowed.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            if not _HOST.match(text):
                raise ValueError(f"not an address, network or host name: {text[:64]!r}") from None
            allowed.append(text)
    return tuple(allowed)
