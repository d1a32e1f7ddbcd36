"""One post file → a Post record (and its Markdown body), or problems naming the file and line.

Pure: no threads, no Flask. Every problem says ``path:line: message``; an
exception nobody foresaw is caught too, so one bad file never stops a scan.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from frontmatter.default_handlers import YAMLHandler

from feeds.config import Config
from feeds.content.files import SourceFile, clean, read_source
from feeds.content.tags import slugify
from feeds.errors import ContentError
from feeds.models import Author, Enclosure, Post, Problem
from feeds.urls import join as join_url
from feeds.urls import quote_path

FIELDS = frozenset(
    {"title", "date", "updated", "slug", "id", "summary", "tags", "authors", "image",
     "draft", "link", "enclosure", "reading_time"}
)
MAX_TAG_LENGTH = 100
WORDS_PER_MINUTE = 230

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
_SLUG = re.compile(r"^[\w][\w.~-]*$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass(frozen=True)
class Loaded:
    """The result of reading one file: a post and its Markdown body, problems, or both."""

    post: Post | None
    #: The Markdown body of ``post`` (front matter removed); empty without a post.
    body: str = ""
    problems: tuple[Problem, ...] = ()


def load(file: SourceFile, config: Config) -> Loaded:
    """Read one file into a Post; every problem names the file and line."""
    problems: list[Problem] = []
    try:
        post, body = _load(file, config, problems)
    except ContentError as e:
        problems.append(Problem(file.rel, e.line, e.message))
        post, body = None, ""
    except Exception as e:  # a bug, or input nobody foresaw: this file is skipped, the scan goes on
        problems.append(Problem(file.rel, 1, f"cannot be loaded: {type(e).__name__}: {e}"))
        post, body = None, ""
    return Loaded(post, body, tuple(problems))


def _load(file: SourceFile, config: Config, problems: list[Problem]) -> tuple[Post, str]:
    text, data = read_source(file, config, problems)
    fm_text, body, first_line = _split(file.rel, text)
    meta, escaped = _parse(file.rel, fm_text, first_line)
    fields = _Fields(file.rel, meta, fm_text, first_line, problems)
    if escaped:
        # Only YAML escapes ("\0", "\ud800") get here: the raw text was cleaned already.
        seen: set[int] = set()
        for name in list(meta):
            meta[name], changed = clean(meta[name], seen)
            if changed:
                fields.warn(str(name), "removed characters that XML 1.0 forbids (written as an escape sequence)")
        if clean(meta, seen)[1]:
            problems.append(Problem(file.rel, 2, "removed characters that XML 1.0 forbids from a field name", "warning"))
    # The body in UTF-8 for its digest: when the text is the file's bytes decoded, it is their tail.
    raw = None if data is None else data[len(text[: len(text) - len(body)].encode("utf-8")) :]
    return _post_from(file, config, fields, body, raw), body


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    """Parse YAML with libyaml when present (~10x faster on 10k posts).

    On any error the pure-Python parser parses it again, so problems keep its
    messages and line marks exactly.
    """
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a SafeLoader
    except Exception:
        return yaml.safe_load(text)


# The front matter most posts hold is a few lines of the simplest YAML -- ``key: "text"``, ``key: plain text``,
# ``key: 2026-01-02``, ``key: [a, b]``, ``key:`` and ``  - item`` lines -- and libyaml's events cost about
# as much as the rest of loading: such lines are read here, every scalar typed by the loader's own resolvers and
# constructors, so the mapping is the one the loader builds. Anything else (an escape but \" and \\, a tab, a comment
# after a value, an anchor, a tag, a block or multi-line scalar, a nested mapping...) goes to the loader.
_UNUSUAL = re.compile(r"[\t\r\x85\u2028\u2029\ufeff]")
_DOUBLE_QUOTED = r'"([^"\\]*(?:\\["\\][^"\\]*)*)"'  # of the escapes only \" and \\
# ``key: value`` (a key at column 0, shorter than libyaml's 1024) or ``- item``; a double-quoted value apart.
_LINE = re.compile(rf"([A-Za-z_][A-Za-z0-9_-]{{0,99}}):(?: (?:{_DOUBLE_QUOTED}|(.+)))?|( *)- (?:{_DOUBLE_QUOTED}|(.+))")
_QUOTED = re.compile(rf"{_DOUBLE_QUOTED}|'([^']*)'")  # '' is not matched
_ESCAPE = re.compile(r"\\([\"\\])")
_NOT_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")  # YAML indicators, and a space
_NOT_IN_FLOW_PLAIN = re.compile(r"[:#?\[\]{}]")  # "?" too: PyYAML ends a plain scalar there in a flow, libyaml does not
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null", "timestamp"))
#: Keys the resolvers leave as text (``title``, not ``yes``), remembered: a few names, in every file.
_TEXT_KEYS: set[str] = set()
#: Plain scalars the resolvers type (``2026-01-02``, ``false``), remembered with their (immutable) values.
_TYPED: dict[str, Any] = {}
_TEXT = object()


class _NotSimple(Exception):
    """The front matter is beyond :func:`_simple_yaml`: the loader reads it."""


def _simple_yaml(text: str) -> dict[Any, Any] | None:
    """Return the mapping YAML ``text`` holds if it is simple enough to read here, else None."""
    if _UNUSUAL.search(text) is not None:
        return None
    meta: dict[Any, Any] = {}
    key: str | None = None  # the key a block sequence may follow (``key:`` with no value)
    items: list[Any] | None = None
    indent = 0
    try:
        for line in text.split("\n"):
            if not line or line[0] == "#":
                continue
            match = _LINE.fullmatch(line)
            if match is None:
                return None
            name, quoted, value, item_indent, item_quoted, item = match.groups()
            if name is None:
                if key is None or (items is not None and len(item_indent) != indent):
                    return None
                if items is None:
                    items, indent = [], len(item_indent)
                    meta[key] = items
                items.append(_unescape(item_quoted) if item_quoted is not None else _scalar(item))
                continue
            if name not in _TEXT_KEYS:
                if type(_plain(name)) is not str:
                    return None
                if len(_TEXT_KEYS) < 1000:
                    _TEXT_KEYS.add(name)
            key, items = None, None
            if quoted is not None:
                meta[name] = quoted if "\\" not in quoted else _unescape(quoted)
            elif value is not None:
                meta[name] = _scalar(value)
            else:
                meta[name] = None
                key = name
    except _NotSimple:
        return None
    return meta or None


def _unescape(text: str) -> str:
    """Undo the escapes \\" and \\\\ (the only ones _simple_yaml reads)."""
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text


def _scalar(text: str) -> Any:
    """Return the value of a one-line scalar or flow sequence (``text`` is not empty)."""
    if text[0] in "\"'":
        match = _QUOTED.fullmatch(text)
        if match is None:
            raise _NotSimple
        return _unescape(match[1]) if match[1] is not None else match[2]
    if text[0] == "[" and text[-1] == "]":
        inner = text[1:-1]
        if not inner:
            return []
        values = []
        for part in inner.split(","):
            item = part.strip(" ")
            if not item or (item[0] not in "\"'" and _NOT_IN_FLOW_PLAIN.search(item) is not None):
                raise _NotSimple
            values.append(_scalar(item))
        return values
    if text[0] in _NOT_PLAIN_START or text[-1] in " :" or ": " in text or " #" in text:
        raise _NotSimple
    return _plain(text)


def _plain(text: str) -> Any:
    """Return the value of the plain scalar ``text``: typed as BaseResolver.resolve types it, built by the loader's constructor."""
    value = _TYPED.get(text, _TEXT)
    if value is not _TEXT:
        return value
    resolvers = _FAST_LOADER.yaml_implicit_resolvers
    tag = "tag:yaml.org,2002:str"
    for candidate, pattern in resolvers.get(text[0], []) + resolvers.get(None, []):
        if pattern.match(text):
            tag = candidate
            break
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag not in _SCALAR_TAGS:
        raise _NotSimple
    try:
        value = _FAST_LOADER.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except Exception as e:  # an impossible date, say: the loader reports it
        raise _NotSimple from e
    if len(_TYPED) < 10_000:
        _TYPED[text] = value
    return value


# python-frontmatter's own boundary (``^-{3,}\s*$``, multiline), so files split exactly as its YAMLHandler splits them.
_BOUNDARY = YAMLHandler.FM_BOUNDARY


def _split(rel: str, text: str) -> tuple[str, str, int]:
    """Split front matter from body; return (front matter, body, the file line the front matter starts on)."""
    opening = _BOUNDARY.match(text)
    if opening is None:
        raise ContentError(rel, "no front matter: the file must start with a '---' line", 1)
    closing = _closing(text, opening.end())
    if closing is None:
        raise ContentError(rel, "front matter is not closed by a '---' line", 1)
    first_line = text[: opening.end()].count("\n") + 1
    start = closing.end()
    while text.startswith("\n", start):  # the body without the blank lines before it, copied once
        start += 1
    return text[opening.end() : closing.start()], text[start:], first_line


def _closing(text: str, start: int) -> re.Match[str] | None:
    """Return ``_BOUNDARY.search(text, start)``, trying only the lines that start with ``---``."""
    newline = text.find("\n---", start - 1)
    while newline != -1:
        match = _BOUNDARY.match(text, newline + 1)
        if match is not None:
            return match
        newline = text.find("\n---", newline + 1)
    return None


def _parse(rel: str, fm_text: str, first_line: int) -> tuple[dict[Any, Any], bool]:
    """Return the front matter's mapping, and whether YAML escapes in it may have made forbidden characters."""
    simple = _simple_yaml(fm_text)
    if simple is not None:
        return simple, False  # its only escapes are \" and \\
    try:
        meta = _safe_load(fm_text)
    except yaml.MarkedYAMLError as e:
        # The context mark points at an unclosed bracket or quote; prefer it.
        mark = e.context_mark or e.problem_mark
        line = first_line + mark.line if mark else 1
        reason = e.problem or str(e)
        if e.context and e.problem_mark and e.context_mark and e.problem_mark.line != e.context_mark.line:
            reason = f"{e.context}: {reason} on line {first_line + e.problem_mark.line}"
        raise ContentError(rel, f"invalid YAML in front matter: {reason}", line) from e
    except yaml.YAMLError as e:
        raise ContentError(rel, f"invalid YAML in front matter: {e}", 1) from e
    except ValueError as e:  # PyYAML raises this for an impossible date such as 2026-02-30
        name, line = _date_field(_lines(fm_text, first_line))
        raise ContentError(rel, f"{name}: not a real date ({e})", line) from e
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError(rel, f"front matter must be a mapping of fields, not a {type(meta).__name__}", first_line + 1)
    return meta, "\\" in fm_text  # without a backslash, no escape


def _lines(fm_text: str, first_line: int) -> list[str]:
    """Return ``lines``: ``lines[n - 1]`` is line ``n`` of the file within the front matter (blank before it)."""
    return [""] * (first_line - 1) + fm_text.split("\n")


def _date_field(lines: list[str]) -> tuple[str, int]:
    """Return the first field holding a date that does not exist, and its line (PyYAML does not say)."""
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^\s*(\w+)\s*:\s*['\"]?(\d{4})-(\d{1,2})-(\d{1,2})", line)
        if match:
            try:
                date(*(int(part) for part in match.groups()[1:]))
            except ValueError:
                return match.group(1), number
    return "date", 1


class _Fields:
    """Typed access to front matter fields; errors name the field and its line."""

    def __init__(self, rel: str, meta: Mapping[str, Any], fm_text: str, first_line: int, problems: list[Problem]) -> None:
        self.rel, self.meta, self.fm_text, self.first_line, self.problems = rel, meta, fm_text, first_line, problems

    def line(self, name: str) -> int:
        # Only a problem asks, so the lines are split here, not for every file.
        pattern = re.compile(rf"^['\"]?{re.escape(name)}['\"]?\s*:")
        for number, text in enumerate(_lines(self.fm_text, self.first_line), start=1):
            if pattern.match(text):
                return number
        return 1

    def error(self, name: str, message: str) -> ContentError:
        return ContentError(self.rel, f"{name}: {message}", self.line(name))

    def warn(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.rel, self.line(name), f"{name}: {message}", "warning"))

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


def _post_from(file: SourceFile, config: Config, fields: _Fields, body: str, raw: bytes | None = None) -> Post:
    meta = fields.meta
    if not FIELDS.issuperset(meta):
        for name in sorted(set(meta) - FIELDS, key=str):
            fields.warn(str(name), "unknown field, ignored")

    title = fields.text("title", required=True)
    assert title is not None

    stem = file.path.name.removesuffix(".md")
    prefix = _DATE_PREFIX.match(stem)
    published = _datetime(fields, "date", config)
    if published is None and prefix is not None:
        try:
            published = datetime.combine(date.fromisoformat(prefix.group(1)), time(), config.timezone)
        except ValueError as e:
            raise ContentError(file.rel, f"date: file name prefix {prefix.group(1)!r} is not a real date", 1) from e
    if published is None and file.history is not None:
        published = file.history[0]  # the commit that added the file
    if published is None:
        raise ContentError(file.rel, "date: missing, and the file name has no YYYY-MM-DD- prefix", 1)
    updated = _datetime(fields, "updated", config) or (max(file.history[1], published) if file.history else published)
    if updated < published:
        fields.warn("updated", "is before date; using date")
        updated = published

    slug = fields.text("slug")
    if slug is not None:
        if not _SLUG.match(slug):
            raise fields.error("slug", f"{slug!r} may hold only letters, digits, '-', '_', '.' and '~'")
    else:
        slug = slugify(prefix.group(2) if prefix else stem)
        if not slug:
            raise ContentError(file.rel, "slug: the file name gives an empty slug; set slug in the front matter", 1)

    url = config.site_url + _quote_path(
        config.permalink.format(slug=slug, year=f"{published.year:04d}", month=f"{published.month:02d}", day=f"{published.day:02d}")
    )
    post_id = fields.text("id") or _default_id(config.site_url, slug, published)

    link = fields.text("link")
    if link is not None:
        link = _absolute_url(fields, "link", link, url)

    image = fields.text("image")
    if image is not None:
        image = _absolute_url(fields, "image", image, url)

    draft = meta.get("draft", False)
    if not isinstance(draft, bool):
        raise fields.error("draft", f"expected true or false, got {draft!r}")

    reading_time = meta.get("reading_time")
    if reading_time is not None and (isinstance(reading_time, bool) or not isinstance(reading_time, int) or reading_time < 1):
        fields.warn("reading_time", "expected a whole number of minutes; estimating it")
        reading_time = None
    if raw is None:
        raw = body.encode("utf-8", "surrogatepass")
    if reading_time is None:
        reading_time = max(1, math.ceil(_word_count(body, raw) / WORDS_PER_MINUTE))

    return Post(
        source=file.rel,
        id=post_id,
        slug=slug,
        title=title,
        url=url,
        link=link or url,
        published=published,
        updated=updated,
        body_digest=hashlib.sha256(raw).hexdigest(),
        summary=fields.text("summary"),
        tags=_tags(fields),
        authors=_authors(fields, url),
        image=image,
        enclosure=_enclosure(fields, url),
        draft=draft,
        reading_time=reading_time,
    )


# Whitespace as str.split() sees it: for each byte of UTF-8 text, 0 if it is an ASCII space, else 1;
# the multi-byte spaces are found by _UNICODE_SPACES.
_WORD_BYTES = bytes(0 if c < 0x80 and chr(c).isspace() else 1 for c in range(256))
# The other spaces, by their lead byte in UTF-8: U+0085, U+00A0; U+1680; U+2000-200A, U+2028, U+2029, U+202F, U+205F; U+3000.
_UNICODE_SPACES = (
    (b"\xc2", re.compile(rb"\xc2[\x85\xa0]")),
    (b"\xe1", re.compile(rb"\xe1\x9a\x80")),
    (b"\xe2", re.compile(rb"\xe2(?:\x80[\x80-\x8a\xa8\xa9\xaf]|\x81\x9f)")),
    (b"\xe3", re.compile(rb"\xe3\x80\x80")),
)


def _word_count(text: str, raw: bytes) -> int:
    """Return ``len(text.split())`` without making a string per word; ``raw`` is ``text`` in UTF-8."""
    if not text.isascii():
        for lead, pattern in _UNICODE_SPACES:
            if lead in raw and pattern.search(raw):
                return len(text.split())
    # One bit per byte, as one integer: each word is a run of ones, which begins and ends with a change.
    bits = int.from_bytes(raw.translate(_WORD_BYTES), "little")
    return (bits ^ (bits << 8)).bit_count() // 2


def _default_id(site_url: str, slug: str, published: datetime) -> str:
    """Return a tag: URI (RFC 4151) from the site host, publication day and slug.

    It does not change when the post is edited, only if its slug or day does;
    set ``id`` in the front matter to keep identity across a rename.
    """
    host = _hosts.get(site_url)
    if host is None:
        host = _hosts[site_url] = urlsplit(site_url).hostname or "localhost"
    return f"tag:{host},{published.date().isoformat()}:{slug if _QUOTE_SAFE.fullmatch(slug) else quote(slug)}"


_hosts: dict[str, str] = {}


def _kept_by(quoter: Callable[[str], str]) -> re.Pattern[str]:
    """Match text made only of the characters ``quoter`` leaves as they are (it quotes byte by byte)."""
    return re.compile(f"[{re.escape(''.join(c for c in map(chr, range(128)) if quoter(c) == c))}]*")


# Text that quote() and quote_path() would return unchanged: most slugs and paths.
_QUOTE_SAFE = _kept_by(quote)
_PATH_QUOTE_SAFE = _kept_by(quote_path)


def _quote_path(path: str) -> str:
    """Return quote_path(path), quickly when nothing needs quoting."""
    return path if _PATH_QUOTE_SAFE.fullmatch(path) else quote_path(path)


_MIDNIGHT = time()


def _datetime(fields: _Fields, name: str, config: Config) -> datetime | None:
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
            raise fields.error(name, f"{value!r} is not an ISO 8601 date or date-time") from e
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


def _absolute_url(fields: _Fields, name: str, value: str, base: str) -> str:
    """Return ``value`` as an absolute http(s) URI (RFC 3986): feeds and JSON Feed need URIs, not IRIs."""
    if any(c.isspace() for c in value):
        raise fields.error(name, f"{value!r} is not a URL (contains spaces)")
    try:
        parts = urlsplit(value)
        if parts.scheme and parts.scheme not in ("http", "https"):
            raise fields.error(name, f"{value!r}: only http(s) URLs or site paths are allowed")
        if not parts.netloc.isascii():
            raise fields.error(name, f"{value!r}: write a non-ASCII host name in its xn-- (punycode) form")
        # Percent-encode what a URI may not hold (non-ASCII, quotes, angle brackets); keep %XX escapes.
        path, query, fragment = (_STRAY_PERCENT.sub("%25", part) for part in (parts.path, parts.query, parts.fragment))
        escaped = urlunsplit(
            (parts.scheme, parts.netloc, quote(path, safe=_PATH_SAFE), quote(query, safe=_QUERY_SAFE), quote(fragment, safe=_QUERY_SAFE))
        )
        url = join_url(escaped, base)
        absolute = urlsplit(url)
        absolute.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as e:
        raise fields.error(name, f"{value!r} is not a valid URL: {e}") from e
    if absolute.scheme not in ("http", "https") or not absolute.hostname:
        raise fields.error(name, f"{value!r} does not make an absolute http(s) URL")
    return url


def _tags(fields: _Fields) -> tuple[str, ...]:
    value = fields.meta.get("tags")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise fields.error("tags", f"expected a list of names, got {type(value).__name__}")
    names: list[str] = []
    for item in value:
        if type(item) is not str and (isinstance(item, bool) or not isinstance(item, str | int | float)):
            raise fields.error("tags", f"expected names, got a {type(item).__name__} entry")
        name = " ".join(str(item).split())
        if not name:
            fields.warn("tags", "empty tag ignored")
        elif len(name) > MAX_TAG_LENGTH:
            fields.warn("tags", f"tag of {len(name)} characters ignored (limit {MAX_TAG_LENGTH})")
        elif name not in names:
            names.append(name)
    return tuple(names)


def _authors(fields: _Fields, base: str) -> tuple[Author, ...]:
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
                raise fields.error("authors", f"invalid email {email!r}")
            if url is not None and not isinstance(url, str):
                raise fields.error("authors", f"invalid url {url!r}")
            authors.append(
                Author(" ".join(name.split()), email or None, _absolute_url(fields, "authors", url, base) if url else None)
            )
        else:
            raise fields.error("authors", f"expected a name or {{name, url, email}}, got {item!r}")
    return tuple(authors)


def _enclosure(fields: _Fields, base: str) -> Enclosure | None:
    value = fields.meta.get("enclosure")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fields.error("enclosure", "expected {url, type, length}")
    url, media_type, length = value.get("url"), value.get("type"), value.get("length", 0)
    if not isinstance(url, str) or not url.strip():
        raise fields.error("enclosure", "needs a url")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.match(media_type):
        raise fields.error("enclosure", f"needs a media type such as audio/mpeg, got {media_type!r}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise fields.error("enclosure", f"length must be a size in bytes, got {length!r}")
    return Enclosure(_absolute_url(fields, "enclosure", url.strip(), base), media_type, length)


#: The stamp of a file that is listed with a problem instead of being read: never equal to a real one.
