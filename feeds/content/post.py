"""One post file → a Post record (and its Markdown body), or problems naming the file and line.

Pure: no threads, no Flask. Every problem says ``path:line: message``; an
exception nobody foresaw is caught too, so one bad file never stops a scan.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, urlsplit

from isal import isal_zlib  # zlib's format, 5× faster: 10,000 bodies are packed at a cold start

from feeds.config import Config
from feeds.content.episode import FIELDS as EPISODE_FIELDS
from feeds.content.episode import parse_episode
from feeds.content.errors import ContentError
from feeds.content.fields import (
    QUOTE_SAFE,
    Fields,
    absolute_url,
    parse_authors,
    parse_datetime,
    parse_enclosure,
    parse_tags,
    quote_slug_path,
)
from feeds.content.files import SourceFile, clean, read_source
from feeds.content.frontmatter import parse, split
from feeds.content.tags import slugify
from feeds.limits import MAX_PROBLEM_MESSAGE, cut, quoted
from feeds.models import Post, Problem
from feeds.parsers import as_language

FIELDS = frozenset(
    {"title", "date", "updated", "slug", "id", "summary", "tags", "authors", "image", "draft", "link", "enclosure", "reading_time"}
    | {"feed", "language"}
    | EPISODE_FIELDS
)
WORDS_PER_MINUTE = 230

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
_SLUG = re.compile(r"^[\w][\w.~-]*$")


def pack(front: str, body: str) -> tuple[bytes, int]:
    """A post file's source record: its text compressed, and where its body starts in the uncompressed bytes."""
    head = front.encode("utf-8", "surrogatepass")
    return isal_zlib.compress(head + body.encode("utf-8", "surrogatepass"), 1), len(head)


def unpack_body(source_z: bytes, body_at: int) -> str:
    """The body of a source record made by :func:`pack`."""
    return isal_zlib.decompress(source_z)[body_at:].decode("utf-8", "surrogatepass")


def body_digest(body: str) -> str:
    """The digest of a post's Markdown body (``Post.body_digest``)."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Loaded:
    """The result of reading one file: a post and its Markdown body, problems, or both."""

    post: Post | None
    #: The Markdown body of ``post`` (front matter removed); empty without a post.
    body: str = ""
    problems: tuple[Problem, ...] = ()
    #: The file's text before ``body`` (the front matter and its boundaries); empty without a post.
    front: str = ""
    #: The whole text (``front`` + ``body``) zlib-compressed instead of both, and where the body starts in it (UTF-8
    #: bytes): helper processes hand results back this way (less to copy), and the content index keeps it, so a kept
    #: post can be read again under other settings (its source record).
    source_z: bytes = b""
    body_at: int = 0

    def packed(self) -> Loaded:
        """This result with its text compressed, as the content index keeps it."""
        if self.post is None or self.source_z:
            return self
        source_z, body_at = pack(self.front, self.body)
        return replace(self, body="", front="", source_z=source_z, body_at=body_at)

    def bare(self) -> Loaded:
        """This result without its text (its file holds it)."""
        return replace(self, body="", front="")

    def unpacked_body(self) -> str:
        """The body, from ``body`` or from the compressed text."""
        if not self.source_z:
            return self.body
        return unpack_body(self.source_z, self.body_at)


def load(file: SourceFile, config: Config, text: str | None = None) -> Loaded:
    """Read one file into a Post; every problem names the file and line.

    With ``text``, that is the file's text (a kept source record read again under other settings): the file is not opened.
    """
    problems: list[Problem] = []
    try:
        post, body, front = _load(file, config, problems, text)
    except ContentError as e:
        problems.append(Problem(file.rel, e.line, e.message))
        post, body, front = None, "", ""
    except Exception as e:  # a bug, or input nobody foresaw: this file is skipped, the scan goes on
        problems.append(Problem(file.rel, 1, f"cannot be loaded: {type(e).__name__}: {cut(str(e), MAX_PROBLEM_MESSAGE)}"))
        post, body, front = None, "", ""
    return Loaded(post, body, tuple(problems), front)


def _load(file: SourceFile, config: Config, problems: list[Problem], given: str | None) -> tuple[Post, str, str]:
    text, data = read_source(file, config, problems) if given is None else (given, None)
    fm_text, body, first_line = split(file.rel, text)
    meta, escaped = parse(file.rel, fm_text, first_line)
    fields = Fields(file.rel, meta, fm_text, first_line, problems)
    try:
        return _checked(file, config, fields, meta, body, text, data, escaped), body, text[: len(text) - len(body)]
    finally:
        if fields.unlisted:
            problems.append(Problem(file.rel, first_line, f"{fields.unlisted:,} more warnings about this file not listed", "warning"))


def _checked(
    file: SourceFile, config: Config, fields: Fields, meta: dict[Any, Any], body: str, text: str, data: bytes | None, escaped: bool
) -> Post:
    problems = fields.problems
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
    return _post_from(file, config, fields, body, raw)


def _post_from(file: SourceFile, config: Config, fields: Fields, body: str, raw: bytes | None = None) -> Post:
    meta = fields.meta
    if not FIELDS.issuperset(meta):
        for name in sorted(set(meta) - FIELDS, key=str):
            fields.warn(str(name), "unknown field, ignored")

    title = fields.text("title", required=True)
    assert title is not None

    stem = file.path.name.removesuffix(".md")
    prefix = _DATE_PREFIX.match(stem)
    published = parse_datetime(fields, "date", config)
    if published is None and prefix is not None:
        try:
            published = datetime.combine(date.fromisoformat(prefix.group(1)), time(), config.timezone)
        except ValueError as e:
            raise ContentError(file.rel, f"date: file name prefix {prefix.group(1)!r} is not a real date", 1) from e
    if published is None and file.history is not None:
        published = file.history[0]  # the commit that added the file
    if published is None:
        raise ContentError(file.rel, "date: missing, and the file name has no YYYY-MM-DD- prefix", 1)
    updated = parse_datetime(fields, "updated", config) or (max(file.history[1], published) if file.history else published)
    if updated < published:
        fields.warn("updated", "is before date; using date")
        updated = published

    slug = fields.text("slug")
    if slug is not None:
        if not _SLUG.match(slug):
            raise fields.error("slug", f"{quoted(slug)} may hold only letters, digits, '-', '_', '.' and '~'")
    else:
        slug = slugify(prefix.group(2) if prefix else stem)
        if not slug:
            raise ContentError(file.rel, "slug: the file name gives an empty slug; set slug in the front matter", 1)

    permalink = config.permalink.format(slug=slug, year=f"{published.year:04d}", month=f"{published.month:02d}", day=f"{published.day:02d}")
    # A path is under site_url (the service serves the page); an absolute permalink is the blog elsewhere.
    url = config.site_url + quote_slug_path(permalink) if permalink.startswith("/") else quote_url(permalink)
    post_id = fields.text("id") or _default_id(config.site_url, slug, published)

    link = fields.text("link")
    if link is not None:
        link = absolute_url(fields, "link", link, url)

    image = fields.text("image")
    if image is not None:
        image = absolute_url(fields, "image", image, url)

    draft = meta.get("draft", False)
    if not isinstance(draft, bool):
        raise fields.error("draft", f"expected true or false, got {quoted(draft)}")
    in_feeds = meta.get("feed", True)
    if not isinstance(in_feeds, bool):
        raise fields.error("feed", f"expected true or false, got {quoted(in_feeds)}")
    language = fields.text("language")
    if language is not None:
        try:
            language = as_language(language)
        except ValueError as e:
            raise fields.error("language", str(e)) from e
        if language == config.language:
            language = None  # the site's: one spelling, so a post that states it digests like one that does not

    reading_time = meta.get("reading_time")
    if reading_time is not None and (isinstance(reading_time, bool) or not isinstance(reading_time, int) or reading_time < 1):
        fields.warn("reading_time", "expected a whole number of minutes; estimating it")
        reading_time = None
    if raw is None:
        raw = body.encode("utf-8", "surrogatepass")
    if reading_time is None:
        reading_time = max(1, math.ceil(_word_count(body, raw) / WORDS_PER_MINUTE))
    enclosure = parse_enclosure(fields, url)

    return Post(
        source=file.rel,
        id=post_id,
        slug=slug,
        title=title,
        url=url,
        link=link or url,
        published=published,
        updated=updated,
        body_digest=hashlib.sha256(raw).hexdigest(),  # (= body_digest(body), from the bytes read)
        summary=fields.text("summary"),
        tags=parse_tags(fields),
        authors=parse_authors(fields, url),
        image=image,
        enclosure=enclosure,
        draft=draft,
        reading_time=reading_time,
        feed=in_feeds,
        language=language,
        section=section_of(file.rel),
        episode=parse_episode(fields, url, enclosure),
    )


def section_of(rel: str) -> str | None:
    """Return the section of a post file: the slug of its first-level folder, None for a file at the top."""
    folder, sep, _ = rel.partition("/")
    return (slugify(folder) or None) if sep else None


def quote_url(url: str) -> str:
    """Return an absolute permalink as a URI: its path percent-encoded like a site path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{quote_slug_path(parts.path)}"


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
    return f"tag:{host},{published.date().isoformat()}:{slug if QUOTE_SAFE.fullmatch(slug) else quote(slug)}"


_hosts: dict[str, str] = {}
