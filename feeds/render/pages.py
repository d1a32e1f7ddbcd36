"""The HTML pages, the browser views of feeds and the OPML lists, rendered into the snapshot like feeds."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from feeds import urls
from feeds.config import Config
from feeds.models import Entry, FeedPage, Tag
from feeds.render.formats import FORMATS


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape HTML and XML: a post titled "<script>" stays text.
    env = Environment(
        loader=PackageLoader("feeds.render", "templates"),
        autoescape=select_autoescape(["html", "xml", "opml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = email.utils.format_datetime
    env.globals["entry_html"] = entry_html
    env.globals["url"] = urls.absolute_or_as_is
    env.globals["feed_path"] = urls.feed_path
    env.globals["tag_prefix"] = urls.tag_prefix
    return env


@lru_cache(maxsize=16384)
def entry_html(entry: Entry, site_url: str) -> Markup:
    """Return one post's list item; rendered once and shared by every page that lists it."""
    return Markup(_environment().get_template("_entry.html").render(entry=entry, site_url=site_url))


@dataclass(frozen=True)
class FeedLink:
    label: str
    url: str
    media_type: str


def feed_links(config: Config, prefix: str) -> list[FeedLink]:
    """Return the three feeds of a scope (``/`` or ``/tags/<slug>/``)."""
    return [FeedLink(f.label, urls.absolute(config.site_url, prefix + f.filename), f.media_type.split(";")[0]) for f in FORMATS.values()]


def _render(template: str, config: Config, **context: Any) -> bytes:
    return _environment().get_template(template).render(config=config, **context).encode("utf-8")


def home(config: Config, entries: Sequence[Entry], tag_count: int) -> bytes:
    return _render("index.html", config, feeds=feed_links(config, urls.SITE), entries=entries, tag_count=tag_count)


def tag_list(config: Config, tag_counts: Sequence[tuple[Tag, int]]) -> bytes:
    rows = [(tag, count, feed_links(config, urls.tag_prefix(tag.slug))) for tag, count in tag_counts]
    return _render("tags.html", config, rows=rows, feeds=feed_links(config, urls.SITE))


def tag_page(config: Config, tag: Tag, count: int, entries: Sequence[Entry]) -> bytes:
    return _render("tag.html", config, tag=tag, count=count, feeds=feed_links(config, urls.tag_prefix(tag.slug)), entries=entries)


def opml(config: Config, tag_counts: Sequence[tuple[Tag, int]], filename: str, newest: datetime | None) -> bytes:
    """Return the OPML 2.0 subscription list: one outline per scope, in the format of ``filename``.

    One outline per scope, not three: an aggregator importing three formats
    of one feed would show every post three times. http://opml.org/spec2.opml
    """
    scopes: list[tuple[str, str, Tag | None]] = [(config.title, urls.SITE, None)]
    scopes += [(f"{config.title}: {tag.name}", urls.tag_prefix(tag.slug), tag) for tag, _ in tag_counts]
    # "version" is defined for RSS only (RSS, RSS1, RSS2, scriptingNews).
    version = "RSS2" if filename == "feed.xml" else None
    return _render("feeds.opml", config, scopes=scopes, newest=newest, filename=filename, version=version, label=FORMATS[filename].label)


def feed_view(config: Config, page: FeedPage) -> bytes:
    """Return the HTML a browser gets for one page of a feed scope (any of its formats)."""
    return _render("feed.html", config, page=page, feeds=feed_links(config, page.prefix), entries=page.entries, home=page.home_url)
