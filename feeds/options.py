"""Settings that are tables: per-scope feed options, sections, tags and redirects (parsed, validated, typed).

Each parser takes the raw TOML value (or a JSON string from a ``FEEDS_<KEY>``
environment variable) and raises ConfigError naming the full key at fault
(``sections.notes.items_per_feed``), so a bad value stops start-up with a message
that says where it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from feeds.errors import ConfigError
from feeds.limits import MAX_ITEMS_PER_FEED, MAX_REDIRECTS
from feeds.models import Problem
from feeds.podcast import Show, as_podcast
from feeds.urls import site_path

#: What a feed's items carry: the whole body, or the summary, link and image only.
CONTENT_CHOICES = ("full", "summary")
#: The value of a redirect that answers 410 Gone.
GONE = "gone"
_SLUG = re.compile(r"[\w][\w.~-]*")
_PATH = re.compile(r"/[^\s?#]*")


@dataclass(frozen=True)
class FeedOptions:
    """What a scope's feeds hold; ``None`` inherits the site-wide value."""

    #: Posts in the current feed and in each archive.
    items_per_feed: int | None = None
    #: ``full`` (the body) or ``summary`` (summary, link and image, no body).
    feed_content: str | None = None

    def over(self, base: FeedOptions) -> FeedOptions:
        """These options, with every unset one taken from ``base``."""
        return FeedOptions(
            self.items_per_feed if self.items_per_feed is not None else base.items_per_feed,
            self.feed_content if self.feed_content is not None else base.feed_content,
        )


@dataclass(frozen=True)
class Section:
    """A first-level folder of the content as configured under ``[sections.<slug>]``."""

    slug: str
    #: Display name (default: the slug).
    title: str | None = None
    description: str | None = None
    options: FeedOptions = FeedOptions()
    #: ``False``: the section's posts stay out of the site-wide feeds (they keep their own).
    site_feeds: bool = True
    #: ``[sections.<slug>.podcast]``: the section is its own podcast show.
    podcast: Show | None = None


@dataclass(frozen=True)
class TagSettings:
    """One tag as configured under ``[tags.<slug>]``: its feed options over ``[tag_feeds]``, and its show."""

    slug: str
    options: FeedOptions = FeedOptions()
    #: ``[tags.<slug>.podcast]``: the tag is its own podcast show.
    podcast: Show | None = None


@dataclass(frozen=True)
class Redirect:
    """A moved or removed path: ``target`` is a site path, an absolute URL, or None (410 Gone)."""

    source: str
    target: str | None

    @property
    def gone(self) -> bool:
        return self.target is None


def _table(key: str, value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as e:
            raise ConfigError(key, f"expected a table (or JSON object in the environment): {e.msg}") from e
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a table, got {type(value).__name__}")
    return value


def _items(key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ITEMS_PER_FEED:
        raise ConfigError(key, f"must be a whole number from 1 to {MAX_ITEMS_PER_FEED}, got {value!r}")
    return value


def as_feed_content(value: Any, key: str = "feed_content") -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in CONTENT_CHOICES:
        raise ConfigError(key, f"expected one of {', '.join(CONTENT_CHOICES)}, got {value!r}")
    return str(text)


def _options(key: str, table: Mapping[str, Any], allowed: frozenset[str] = frozenset()) -> FeedOptions:
    unknown = sorted(set(table) - {"items_per_feed", "feed_content"} - allowed, key=str)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown setting")
    items = table.get("items_per_feed")
    content = table.get("feed_content")
    return FeedOptions(
        _items(f"{key}.items_per_feed", items) if items is not None else None,
        as_feed_content(content, f"{key}.feed_content") if content is not None else None,
    )


def scope_options(key: str) -> Callable[[Any], FeedOptions]:
    """The parser of a ``[tag_feeds]``-like table: ``items_per_feed`` and ``feed_content``."""
    return lambda value: _options(key, _table(key, value))


def as_sections(value: Any) -> tuple[Section, ...]:
    """Parse ``[sections.<slug>]`` tables, sorted by slug."""
    sections = []
    for slug, raw in sorted(_table("sections", value).items()):
        key = f"sections.{slug}"
        if not _SLUG.fullmatch(slug):
            raise ConfigError(key, "a section is named by its folder's slug (letters, digits, '-', '_', '.', '~')")
        table = _table(key, raw)
        options = _options(key, table, frozenset({"title", "description", "site_feeds", "podcast"}))
        title, description, site_feeds = table.get("title"), table.get("description"), table.get("site_feeds", True)
        for name, text in (("title", title), ("description", description)):
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise ConfigError(f"{key}.{name}", "expected non-empty text")
        if not isinstance(site_feeds, bool):
            raise ConfigError(f"{key}.site_feeds", f"expected true or false, got {site_feeds!r}")
        sections.append(Section(slug, title, description, options, site_feeds, _show(key, table.get("podcast"))))
    return tuple(sections)


def as_tags(value: Any) -> tuple[TagSettings, ...]:
    """Parse ``[tags.<slug>]`` tables (one tag's ``items_per_feed``, ``feed_content`` and ``podcast``), sorted by slug."""
    tags = []
    for slug, raw in sorted(_table("tags", value).items()):
        key = f"tags.{slug}"
        if not _SLUG.fullmatch(slug):
            raise ConfigError(key, "a tag is named by its slug, as in its URL /tags/<slug>/ (letters, digits, '-', '_', '.', '~')")
        table = _table(key, raw)
        tags.append(TagSettings(slug, _options(key, table, frozenset({"podcast"})), _show(key, table.get("podcast"))))
    return tuple(tags)


def _show(key: str, value: Any) -> Show | None:
    return None if value is None else as_podcast(_table(f"{key}.podcast", value), f"{key}.podcast")


def as_redirects(value: Any) -> tuple[Redirect, ...]:
    """Parse ``[redirects]``: ``"/old/feed.xml" = "/feed.xml"`` (301) or ``= "gone"`` (410); refuse loops."""
    redirects: dict[str, str | None] = {}
    table = _table("redirects", value)
    if len(table) > MAX_REDIRECTS:
        raise ConfigError("redirects", f"{len(table)} entries; at most {MAX_REDIRECTS}")
    for source, target in sorted(table.items()):
        key = f"redirects.{json.dumps(source, ensure_ascii=False)[:80]}"
        if not _PATH.fullmatch(source) or "//" in source or any(part in (".", "..") for part in source.split("/")):
            raise ConfigError(key, "the moved path must be a clean site path starting with '/' (no query)")
        if not isinstance(target, str) or not target.strip():
            raise ConfigError(key, 'expected a site path, an absolute http(s) URL or "gone"')
        target = target.strip()
        if target == GONE:
            redirects[source] = None
        elif target.startswith("/") and not target.startswith("//"):
            if not _PATH.fullmatch(target.split("#")[0].split("?")[0]):
                raise ConfigError(key, f"not a site path: {target[:80]!r}")
            redirects[source] = target
        else:
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in target):
                raise ConfigError(key, f'expected a site path, an absolute http(s) URL or "gone", got {target[:80]!r}')
            redirects[source] = target
    for source in redirects:
        seen = [source]
        target = redirects[source]
        while target is not None and target in redirects:
            if target in seen:
                chain = " -> ".join([*seen, target])
                raise ConfigError(f"redirects.{json.dumps(source)[:80]}", f"redirect loop: {chain[:200]}")
            seen.append(target)
            target = redirects[target]
    return tuple(Redirect(source, target) for source, target in redirects.items())


def final_target(redirects: Mapping[str, str | None], source: str) -> str | None:
    """Follow a chain of redirects from ``source`` to where it ends (loops are refused when parsing)."""
    target = redirects[source]
    while target is not None and target in redirects:
        target = redirects[target]
    return target


def check_redirects(redirects: Sequence[Redirect], documents: Mapping[str, object], where: str) -> Iterator[Problem]:
    """Report redirects that shadow a document, and redirects to a site path that is neither a document nor redirected.

    Loops and malformed entries stop start-up (:func:`as_redirects`); whether a target exists can only
    be known from the documents, so it is checked against every plan (each build) and reported as a problem of ``where``.
    """
    sources = {r.source for r in redirects}
    for redirect in redirects:
        if redirect.source in documents:
            yield Problem(where, 1, f"redirects: {redirect.source} is a document of the site; the document is served", "warning")
        target = redirect.target
        if target is not None and target.startswith("/"):
            path = site_path("", target) or target
            if path not in documents and path not in sources:
                yield Problem(where, 1, f"redirects: {redirect.source} -> {target}: no such document", "warning")
