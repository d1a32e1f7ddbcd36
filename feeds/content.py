"""Read the content folder: every ``*.md`` file → a Post, or problems naming it.

Pure Python, no Flask. One bad file never stops the others: its problems are
collected, and a post that loaded before keeps its last good version.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from frontmatter.default_handlers import YAMLHandler

from .config import Config
from .errors import ContentError, ContentRootError
from .markup import join_url
from .models import Author, Enclosure, Post, Problem
from .tags import slugify

FIELDS = frozenset(
    {"title", "date", "updated", "slug", "id", "summary", "tags", "authors", "image",
     "draft", "link", "enclosure", "reading_time"}
)
MAX_TAG_LENGTH = 100
WORDS_PER_MINUTE = 230

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
_SLUG = re.compile(r"^[\w][\w.~-]*$")
# Characters XML 1.0 forbids: C0 controls except tab/LF/CR, lone surrogates, U+FFFE/U+FFFF
# (https://www.w3.org/TR/xml/#charsets); also DEL and the C1 controls, which XML 1.0 §2.2
# discourages and YAML refuses (https://yaml.org/spec/1.1/#id868518), so one stray byte
# in a title does not take the whole post down.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# In a file name, line breaks and tabs are as unwelcome as the rest (they would split report lines).
_BAD_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass(frozen=True)
class SourceFile:
    #: Absolute path of the file.
    path: Path
    #: Path relative to the content folder, ``/``-separated: the name used in reports.
    rel: str
    size: int
    mtime_ns: int
    inode: int

    @property
    def stamp(self) -> tuple[int, int, int]:
        """What must change for the file to be read again."""
        return (self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True)
class Loaded:
    """The result of reading one file: a post, problems, or both."""

    post: Post | None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Scan:
    """Every post the folder holds now, with what changed since the last scan."""

    posts: tuple[Post, ...]
    problems: tuple[Problem, ...]
    #: Files read again (new or changed) and files gone, relative paths.
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def discover(root: Path) -> tuple[list[SourceFile], list[Problem]]:
    """List the post files under ``root``: ``*.md``, skipping ``.``/``_`` names.

    Symlinks are followed only when they resolve inside ``root``; a folder
    reached twice (a symlink to a parent) is scanned once.
    """
    try:
        real_root = root.resolve(strict=True)
        if not real_root.is_dir():
            raise ContentRootError(root, "is not a folder")
        os.listdir(real_root)
    except FileNotFoundError as e:
        raise ContentRootError(root, "content folder not found") from e
    except PermissionError as e:
        raise ContentRootError(root, "content folder is not readable") from e
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ContentRootError(root, f"cannot read content folder: {getattr(e, 'strerror', None) or e}") from e

    files: list[SourceFile] = []
    problems: list[Problem] = []
    seen_dirs: dict[tuple[int, int], str] = {}

    def walk(directory: Path, rel_prefix: str) -> None:
        rel_dir = rel_prefix.rstrip("/") or "."
        try:
            info = directory.stat()
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as e:
            problems.append(Problem(rel_dir, 1, f"cannot read folder: {e.strerror}"))
            return
        first = seen_dirs.setdefault((info.st_dev, info.st_ino), rel_dir)
        if first != rel_dir:
            problems.append(Problem(rel_dir, 1, f"is the same folder as {first}; not scanned twice", "warning"))
            return
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            rel = rel_prefix + entry.name
            path = Path(entry.path)
            is_md = entry.name.endswith(".md")
            if _BAD_NAME.search(entry.name) and (is_md or entry.is_dir()):
                # Undecodable bytes (kept as surrogates) or control characters in a name would
                # corrupt every report and log line that names the file: refuse it, escaped.
                shown = rel_prefix + _escaped(entry.name)
                problems.append(Problem(shown, 1, "name is not valid UTF-8 or holds control characters; rename it"))
                continue
            if entry.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):
                    if is_md:
                        problems.append(Problem(rel, 1, "symlink cannot be resolved (a loop?); not followed"))
                    continue
                if not target.is_relative_to(real_root):
                    if is_md or target.is_dir():
                        problems.append(Problem(rel, 1, "symlink points outside the content folder; not followed"))
                    continue
            try:
                info = path.stat()
            except OSError as e:
                if is_md:
                    problems.append(Problem(rel, 1, f"cannot read: {e.strerror}"))
                continue
            if stat.S_ISDIR(info.st_mode):
                if is_md:
                    problems.append(Problem(rel, 1, "is a folder, not a Markdown file; its contents are scanned", "warning"))
                walk(path, rel + "/")
            elif is_md and stat.S_ISREG(info.st_mode):
                files.append(SourceFile(path, rel, info.st_size, info.st_mtime_ns, info.st_ino))
            elif is_md:
                problems.append(Problem(rel, 1, "is not a regular file (a pipe or device?); skipped"))

    walk(real_root, "")
    return files, problems


def _escaped(name: str) -> str:
    """Show a file name with its undecodable bytes and control characters as escapes."""
    raw = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _BAD_NAME.sub(lambda m: f"\\x{ord(m.group()):02x}", raw)


def load(file: SourceFile, config: Config) -> Loaded:
    """Read one file into a Post; every problem names the file and line."""
    problems: list[Problem] = []
    try:
        post = _load(file, config, problems)
    except ContentError as e:
        problems.append(Problem(file.rel, e.line, e.message))
        post = None
    except Exception as e:  # a bug, or input nobody foresaw: this file is skipped, the scan goes on
        problems.append(Problem(file.rel, 1, f"cannot be loaded: {type(e).__name__}: {e}"))
        post = None
    return Loaded(post, tuple(problems))


def _read(file: SourceFile, config: Config) -> bytes:
    """Read the file's bytes, checking again that it is a regular file inside the folder.

    The file may have been replaced since it was listed (by a symlink, a pipe or
    a bigger file), so the checks of :func:`discover` are repeated on what is opened.
    """
    limit = config.max_file_size
    if file.size > limit:
        raise ContentError(file.rel, f"file is {file.size} bytes, over max_file_size ({limit}); skipped")
    try:
        real = file.path.resolve(strict=True)
        if not real.is_relative_to(config.content_dir.resolve(strict=True)):
            raise ContentError(file.rel, "now points outside the content folder; not read")
        # O_NONBLOCK: opening a pipe put in the file's place must not hang the scan.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except (OSError, RuntimeError) as e:
        raise ContentError(file.rel, f"cannot read: {getattr(e, 'strerror', None) or e}") from e
    with os.fdopen(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ContentError(file.rel, "is not a regular file; skipped")
            data = handle.read(limit + 1)
        except OSError as e:
            raise ContentError(file.rel, f"cannot read: {e.strerror}") from e
    if len(data) > limit:
        raise ContentError(file.rel, f"file is over max_file_size ({limit} bytes); skipped")
    return data


def _decode(file: SourceFile, data: bytes) -> str:
    """Decode UTF-8 (a BOM is dropped); lone surrogates encoded in the bytes are kept for stripping."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        try:
            # WTF-8/CESU-style encoded surrogates: the text is otherwise UTF-8, and
            # the surrogates are stripped below with a warning instead of losing the post.
            return data.decode("utf-8-sig", errors="surrogatepass")
        except UnicodeDecodeError:
            pass
        line = data[: e.start].count(b"\n") + 1
        raise ContentError(file.rel, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})", line) from e


def _load(file: SourceFile, config: Config, problems: list[Problem]) -> Post:
    data = _read(file, config)
    if not data.strip():
        raise ContentError(file.rel, "empty file")
    text = _decode(file, data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = _FORBIDDEN.search(text)
    if first is not None:
        line = text[: first.start()].count("\n") + 1
        problems.append(Problem(file.rel, line, f"removed characters that XML 1.0 forbids ({_describe(text)})", "warning"))
        text = _FORBIDDEN.sub("", text)

    meta, body, fm_lines = _split(file.rel, text)
    fields = _Fields(file.rel, meta, fm_lines, problems)
    seen: set[int] = set()
    for name in list(meta):
        meta[name], changed = _clean(meta[name], seen)
        if changed:
            # Only YAML escapes ("\0", "\ud800") get here: the raw text was cleaned above.
            fields.warn(str(name), "removed characters that XML 1.0 forbids (written as an escape sequence)")
    if _clean(meta, seen)[1]:
        problems.append(Problem(file.rel, 2, "removed characters that XML 1.0 forbids from a field name", "warning"))
    return _post_from(file, config, fields, body)


def _describe(text: str) -> str:
    """Name the kinds of forbidden characters in ``text``, for the warning."""
    found = {c for c in _FORBIDDEN.findall(text)}
    kinds = []
    if any(c < "\x20" for c in found):
        kinds.append("C0 control characters")
    if any("\x7f" <= c <= "\x9f" for c in found):
        kinds.append("DEL/C1 control characters")
    if any("\ud800" <= c <= "\udfff" for c in found):
        kinds.append("lone surrogates")
    if any(c in "\ufffe\uffff" for c in found):
        kinds.append("U+FFFE/U+FFFF")
    return ", ".join(kinds)


def _clean(value: Any, seen: set[int]) -> tuple[Any, bool]:
    """Remove forbidden characters from every string in ``value``; return (value, changed).

    Lists and mappings are cleaned in place; ``seen`` makes shared and
    self-referencing YAML nodes (``&a [*a]``) cost one visit each.
    """
    if isinstance(value, str):
        return (_FORBIDDEN.sub("", value), True) if _FORBIDDEN.search(value) else (value, False)
    if not isinstance(value, list | dict) or id(value) in seen:
        return value, False
    seen.add(id(value))
    changed = False
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index], item_changed = _clean(item, seen)
            changed |= item_changed
        return value, changed
    items = []
    for key, item in value.items():
        new_key, key_changed = _clean(key, seen)
        new_item, item_changed = _clean(item, seen)
        items.append((new_key, new_item))
        changed |= key_changed or item_changed
    if changed:
        value.clear()
        value.update(items)
    return value, changed


def _split(rel: str, text: str) -> tuple[dict[str, Any], str, list[str]]:
    """Split front matter from body; return (mapping, body, lines).

    ``lines[n - 1]`` is line ``n`` of the file within the front matter (blank
    before it), so errors can point at the file's own line numbers.
    """
    handler = YAMLHandler()
    if not handler.detect(text):
        raise ContentError(rel, "no front matter: the file must start with a '---' line", 1)
    try:
        fm_text, body = handler.split(text)
    except ValueError as e:
        raise ContentError(rel, "front matter is not closed by a '---' line", 1) from e
    opening = handler.FM_BOUNDARY.search(text)
    first_line = text[: opening.end()].count("\n") + 1 if opening else 1  # file line where fm_text starts
    lines = [""] * (first_line - 1) + fm_text.split("\n")
    try:
        meta = yaml.safe_load(fm_text)
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
        name, line = _date_field(lines)
        raise ContentError(rel, f"{name}: not a real date ({e})", line) from e
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError(rel, f"front matter must be a mapping of fields, not a {type(meta).__name__}", first_line + 1)
    return meta, body.lstrip("\n"), lines


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

    def __init__(self, rel: str, meta: Mapping[str, Any], fm_lines: list[str], problems: list[Problem]) -> None:
        self.rel, self.meta, self.fm_lines, self.problems = rel, meta, fm_lines, problems

    def line(self, name: str) -> int:
        pattern = re.compile(rf"^['\"]?{re.escape(name)}['\"]?\s*:")
        for number, text in enumerate(self.fm_lines, start=1):
            if pattern.match(text):
                return number
        return 1

    def error(self, name: str, message: str) -> ContentError:
        return ContentError(self.rel, f"{name}: {message}", self.line(name))

    def warn(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.rel, self.line(name), f"{name}: {message}", "warning"))

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.meta.get(name)
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


def _post_from(file: SourceFile, config: Config, fields: _Fields, body: str) -> Post:
    meta = fields.meta
    for name in sorted(set(meta) - FIELDS, key=str):
        fields.warn(str(name), "unknown field, ignored")

    title = fields.text("title", required=True)
    assert title is not None

    stem = file.path.name.removesuffix(".md")
    prefix = _DATE_PREFIX.match(stem)
    published = _datetime(fields, "date", config)
    if published is None:
        if prefix is None:
            raise ContentError(file.rel, "date: missing, and the file name has no YYYY-MM-DD- prefix", 1)
        try:
            published = datetime.combine(date.fromisoformat(prefix.group(1)), time(), config.timezone)
        except ValueError as e:
            raise ContentError(file.rel, f"date: file name prefix {prefix.group(1)!r} is not a real date", 1) from e
    updated = _datetime(fields, "updated", config) or published
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

    url = config.site_url + config.permalink.format(
        slug=quote(slug), year=f"{published.year:04d}", month=f"{published.month:02d}", day=f"{published.day:02d}"
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
    if reading_time is None:
        reading_time = max(1, math.ceil(len(body.split()) / WORDS_PER_MINUTE))

    return Post(
        source=file.rel,
        id=post_id,
        slug=slug,
        title=title,
        url=url,
        link=link or url,
        published=published,
        updated=updated,
        body=body,
        summary=fields.text("summary"),
        tags=_tags(fields),
        authors=_authors(fields, url),
        image=image,
        enclosure=_enclosure(fields, url),
        draft=draft,
        reading_time=reading_time,
    )


def _default_id(site_url: str, slug: str, published: datetime) -> str:
    """Return a tag: URI (RFC 4151) from the site host, publication day and slug.

    It does not change when the post is edited, only if its slug or day does;
    set ``id`` in the front matter to keep identity across a rename.
    """
    host = urlsplit(site_url).hostname or "localhost"
    return f"tag:{host},{published.date().isoformat()}:{quote(slug)}"


def _datetime(fields: _Fields, name: str, config: Config) -> datetime | None:
    value = fields.meta.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value.strip())
        except ValueError as e:
            raise fields.error(name, f"{value!r} is not an ISO 8601 date or date-time") from e
    else:
        raise fields.error(name, f"expected an ISO 8601 date, got {type(value).__name__}")
    if result.tzinfo is None:
        result = result.replace(tzinfo=config.timezone)
    if not 1 <= result.year <= 9999 or not 1900 <= result.astimezone(config.timezone).year <= 9998:
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
        if isinstance(item, bool) or not isinstance(item, str | int | float):
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
_TROUBLED = (-1, -1, -1)


@dataclass
class _Known:
    stamp: tuple[int, int, int]
    loaded: Loaded
    #: The post this file last published without an error: kept while the file is broken.
    last_good: Post | None


@dataclass
class ContentIndex:
    """The content folder as last scanned; re-reads only files whose stamp changed."""

    config: Config
    _known: dict[str, _Known] = field(default_factory=dict)

    def scan(self) -> Scan:
        """Scan the folder; raise ContentRootError if the folder itself is unreadable."""
        files, problems = discover(self.config.content_dir)
        if not files and any(k.last_good for k in self._known.values()):
            # An unmounted volume often leaves an empty mount point behind: never
            # turn that into empty feeds. Restarting accepts an empty folder.
            raise ContentRootError(
                self.config.content_dir, f"content folder has no posts now but had {len(self._known)} files; keeping the last snapshot"
            )
        changed: list[str] = []
        seen: set[str] = set()
        for file in files:
            seen.add(file.rel)
            known = self._known.get(file.rel)
            if known is not None and known.stamp == file.stamp:
                continue
            loaded = load(file, self.config)
            last_good = loaded.post if loaded.post is not None else (known.last_good if known else None)
            self._known[file.rel] = _Known(file.stamp, loaded, last_good)
            changed.append(file.rel)
        # A published file that is still there but cannot be read now (a dangling or
        # outside symlink, a pipe in its place) is broken, not deleted: keep its last good version.
        troubled = {p.path for p in problems} & (set(self._known) - seen)
        for rel in sorted(troubled):
            known = self._known[rel]
            if known.stamp != _TROUBLED:
                self._known[rel] = _Known(_TROUBLED, Loaded(None), known.last_good)
                changed.append(rel)
        removed = sorted(set(self._known) - seen - troubled)
        for rel in removed:
            del self._known[rel]

        posts: list[Post] = []
        for rel in sorted(self._known):
            known = self._known[rel]
            problems.extend(known.loaded.problems)
            if known.loaded.post is not None:
                posts.append(known.loaded.post)
            elif known.last_good is not None:
                posts.append(known.last_good)
                problems.append(Problem(rel, 1, "serving the last good version of this post until the file is fixed"))
        return Scan(tuple(posts), tuple(problems), tuple(changed), tuple(removed))
