"""Typed access to front matter fields: each error names the field and its line; URLs come out as valid URIs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from feeds.config import Config
from feeds.content.errors import ContentError
from feeds.content.frontmatter import field_lines
from feeds.limits import MAX_PROBLEMS_PER_FILE, MAX_QUOTED_VALUE, MAX_TAG_LENGTH, MAX_TAGS_PER_POST, cut, quoted
from feeds.models import Author, Enclosure, Problem
from feeds.urls import join as join_url
from feeds.urls import quote_path

_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


class Fields:
    """Typed access to front matter fields; errors name the field and its line."""

    def __init__(self, rel: str, meta: Mapping[str, Any], fm_text: str, first_line: int, problems: list[Problem]) -> None:
        self.rel, self.meta, self.fm_text, self.first_line, self.problems = rel, meta, fm_text, first_line, problems
        #: Warnings not listed (past MAX_PROBLEMS_PER_FILE): counted, their lines never looked up.
        self.unlisted = 0

    def line(self, name: str) -> int:
        # Only a problem asks, so the lines are split here, not for every file.
        shown = name[:MAX_QUOTED_VALUE]  # a longer name is found by its start
        tail = r"['\"]?\s*:" if shown == name else ""
        pattern = re.compile(rf"^['\"]?{re.escape(shown)}{tail}")
        for number, text in enumerate(field_lines(self.fm_text, self.first_line), start=1):
            if pattern.match(text):
                return number
        return 1

    def error(self, name: str, message: str) -> ContentError:
        return ContentError(self.rel, f"{cut(name, MAX_QUOTED_VALUE)}: {message}", self.line(name))

    def warn(self, name: str, message: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS_PER_FILE - 1:  # the last place is for the count of the others
            self.unlisted += 1
            return
        self.problems.append(Problem(self.rel, self.line(name), f"{cut(name, MAX_QUOTED_VALUE)}: {message}", "warning"))

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.meta.get(name)
        if type(value) is str:  # the usual case, checked first
            text = " ".join(value.split())
            if required and not text:
                raise self.error(name, "is empty")
            return text or None
        if value is None:
            if required:
                raise ContentError(self.rel, f"{name}: missing (required)", self.line(name) if name in self.meta else 1)
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(name, f"expected text, got {type(value).__name__}")
        text = " ".join(str(value).split())
        if required and not text:
            raise self.error(name, "is empty")
        return text or None


def _kept_by(quoter: Callable[[str], str]) -> re.Pattern[str]:
    """Match text made only of the characters ``quoter`` leaves as they are (it quotes byte by byte)."""
    return re.compile(f"[{re.escape(''.join(c for c in map(chr, range(128)) if quoter(c) == c))}]*")


# Text that quote() and quote_path() would return unchanged: most slugs and paths.
QUOTE_SAFE = _kept_by(quote)


_PATH_QUOTE_SAFE = _kept_by(quote_path)


def quote_slug_path(path: str) -> str:
    """Return quote_path(path), quickly when nothing needs quoting."""
    return path if _PATH_QUOTE_SAFE.fullmatch(path) else quote_path(path)


_MIDNIGHT = time()


def parse_datetime(fields: Fields, name: str, config: Config) -> datetime | None:
    value = fields.meta.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, _MIDNIGHT, config.timezone)
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value.strip())
        except ValueError as e:
            raise fields.error(name, f"{quoted(value)} is not an ISO 8601 date or date-time") from e
    else:
        raise fields.error(name, f"expected an ISO 8601 date, got {type(value).__name__}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=config.timezone)
    # (Between 1901 and 9997, no time zone moves the year out of range: astimezone() is not needed.)
    if not 1901 <= result.year <= 9997 and (not 1 <= result.year <= 9999 or not 1900 <= result.astimezone(config.timezone).year <= 9998):
        raise fields.error(name, f"year {result.year} is out of range")
    return result


# What may stay unescaped in a path, and in a query or fragment (RFC 3986 §3.3-3.5).
_PATH_SAFE = "!$%&'()*+,;=:@/~"


_QUERY_SAFE = _PATH_SAFE + "?"


_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def absolute_url(fields: Fields, name: str, value: str, base: str) -> str:
    """Return ``value`` as an absolute http(s) URI (RFC 3986): feeds and JSON Feed need URIs, not IRIs."""
    if any(c.isspace() for c in value):
        raise fields.error(name, f"{quoted(value)} is not a URL (contains spaces)")
    try:
        parts = urlsplit(value)
        if parts.scheme and parts.scheme not in ("http", "https"):
            raise fields.error(name, f"{quoted(value)}: only http(s) URLs or site paths are allowed")
        if not parts.netloc.isascii():
            raise fields.error(name, f"{quoted(value)}: write a non-ASCII host name in its xn-- (punycode) form")
        # Percent-encode what a URI may not hold (non-ASCII, quotes, angle brackets); keep %XX escapes.
        path, query, fragment = (_STRAY_PERCENT.sub("%25", part) for part in (parts.path, parts.query, parts.fragment))
        escaped = urlunsplit(
            (parts.scheme, parts.netloc, quote(path, safe=_PATH_SAFE), quote(query, safe=_QUERY_SAFE), quote(fragment, safe=_QUERY_SAFE))
        )
        url = join_url(escaped, base)
        absolute = urlsplit(url)
        absolute.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as e:
        raise fields.error(name, f"{quoted(value)} is not a valid URL: {e}") from e
    if absolute.scheme not in ("http", "https") or not absolute.hostname:
        raise fields.error(name, f"{quoted(value)} does not make an absolute http(s) URL")
    return url


def parse_tags(fields: Fields) -> tuple[str, ...]:
    """The post's tag names, in order, duplicates removed: at most MAX_TAGS_PER_POST (the others dropped with one warning)."""
    value = fields.meta.get("tags")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise fields.error("tags", f"expected a list of names, got {type(value).__name__}")
    names: dict[str, None] = {}
    dropped = 0
    for item in value:
        if type(item) is not str and (isinstance(item, bool) or not isinstance(item, str | int | float)):
            raise fields.error("tags", f"expected names, got a {type(item).__name__} entry")
        name = " ".join(str(item).split())
        if not name:
            fields.warn("tags", "empty tag ignored")
        elif len(name) > MAX_TAG_LENGTH:
            fields.warn("tags", f"tag of {len(name)} characters ignored (limit {MAX_TAG_LENGTH})")
        elif name not in names:
            if len(names) < MAX_TAGS_PER_POST:
                names[name] = None
            else:
                dropped += 1
    if dropped:
        fields.warn("tags", f"{dropped:,} more tags dropped: a post has at most {MAX_TAGS_PER_POST} (the first ones are kept)")
    return tuple(names)


def parse_authors(fields: Fields, base: str) -> tuple[Author, ...]:
    value = fields.meta.get("authors")
    if value is None:
        return ()
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list):
        raise fields.error("authors", f"expected a list of names or {{name, url, email}}, got {type(value).__name__}")
    authors: list[Author] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            authors.append(Author(" ".join(item.split())))
        elif isinstance(item, dict):
            name, email, url = item.get("name"), item.get("email"), item.get("url")
            if not isinstance(name, str) or not name.strip():
                raise fields.error("authors", "each author needs a name")
            if email is not None and (not isinstance(email, str) or "@" not in email):
                raise fields.error("authors", f"invalid email {quoted(email)}")
            if url is not None and not isinstance(url, str):
                raise fields.error("authors", f"invalid url {quoted(url)}")
            authors.append(Author(" ".join(name.split()), email or None, absolute_url(fields, "authors", url, base) if url else None))
        else:
            raise fields.error("authors", f"expected a name or {{name, url, email}}, got {quoted(item)}")
    return tuple(authors)


def parse_enclosure(fields: Fields, base: str) -> Enclosure | None:
    value = fields.meta.get("enclosure")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fields.error("enclosure", "expected {url, type, length}")
    url, media_type, length = value.get("url"), value.get("type"), value.get("length", 0)
    if not isinstance(url, str) or not url.strip():
        raise fields.error("enclosure", "needs a url")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type):
        raise fields.error("enclosure", f"needs a media type such as audio/mpeg, got {quoted(media_type)}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise fields.error("enclosure", f"length must be a size in bytes, got {quoted(length)}")
    return Enclosure(absolute_url(fields, "enclosure", url.strip(), base), media_type, length)


#: The stamp of a file that is listed with a problem instead of being read: never equal to a real one.
