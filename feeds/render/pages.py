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
from feeds.render.bounded import ByteBounded
from feeds.render.formats import FORMATS
from feeds.render.plan import Listed


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
    env.globals["list_path"] = urls.list_path
    return env


@dataclass(frozen=True, slots=True)
class ListItem:
    """What a list shows of a post: all its list item depends on (not the post's HTML, which the entry holds)."""

    link: str
    title: str
    published: datetime
    reading_time: int | None
    language: str | None
    summary: str
    tags: tuple[Tag, ...]


#: Bytes of list items kept for the next page that lists the same post (each a few hundred bytes).
LIST_ITEM_BYTES = 4 << 20
#: What a kept list item holds besides its text: the key's record and strings, the Markup object.
ITEM_OVERHEAD = 512


def _item_weight(html: Markup, item: ListItem, site_url: str) -> int:
    return len(html) + len(item.summary) + len(item.title) + len(item.link) + ITEM_OVERHEAD


def _item_html(item: ListItem, site_url: str) -> Markup:
    return Markup(_environment().get_template("_entry.html").render(item=item, site_url=site_url))


_item_html_kept = ByteBounded(_item_html, LIST_ITEM_BYTES, _item_weight)


def entry_html(entry: Entry, site_url: str) -> Markup:
    """Return one post's list item; rendered once and shared by every page that lists it."""
    post = entry.post
    item = ListItem(post.link, post.title, post.published, post.reading_time, post.language, entry.summary, entry.tags)
    return _item_html_kept(item, site_url)


@dataclass(frozen=True)
class FeedLink:
    label: str
    url: str
    media_type: str


def feed_links(config: Config, prefix: str) -> list[FeedLink]:
    """Return the three current feeds of a scope (``/`` or ``/tags/<slug>/``)."""
    return [FeedLink(f.label, urls.absolute(config.site_url, prefix + f.filename), f.media_type.split(";")[0]) for f in FORMATS.values()]


#: How the lists and the index name each kind of scope: (one, many).
KIND_NAMES = {
    "tag": ("Tag", "Tags"),
    "author": ("Author", "Authors"),
    "section": ("Section", "Sections"),
    "language": ("Language", "Languages"),
}


def _render(template: str, config: Config, **context: Any) -> bytes:
    return _environment().get_template(template).render(config=config, kinds=KIND_NAMES, **context).encode("utf-8")


def _kinds(listed: Sequence[Listed]) -> list[tuple[str, int]]:
    """The kinds of scope a site has besides itself, with their number (for the index and the header)."""
    counts: dict[str, int] = {}
    for scope in listed:
        if scope.kind != "site":
            counts[scope.kind] = counts.get(scope.kind, 0) + 1
    return list(counts.items())


#: Kinds of scope whose every feed the index lists (a site has few of them); tags are on ``/tags/``.
_ON_THE_INDEX = ("section", "author", "language")


def home(config: Config, entries: Sequence[Entry], listed: Sequence[Listed]) -> bytes:
    rows = [(scope, feed_links(config, scope.prefix)) for scope in listed if scope.kind in _ON_THE_INDEX]
    return _render("index.html", config, feeds=feed_links(config, urls.SITE), entries=entries, counts=_kinds(listed), rows=rows)


def scope_list(config: Config, kind: str, listed: Sequence[Listed]) -> bytes:
    """The HTML list of every scope of one kind (``/tags/``, ``/authors/``…) with post counts and feeds."""
    rows = [(scope, feed_links(config, scope.prefix)) for scope in listed]
    return _render("list.html", config, kind=kind, rows=rows, feeds=feed_links(config, urls.SITE))


def scope_page(config: Config, scope: Listed, entries: Sequence[Entry]) -> bytes:
    """The HTML page of one tag, author, section or language: its feeds and its newest posts."""
    return _render("scope.html", config, scope=scope, feeds=feed_links(config, scope.prefix), entries=entries)


#: Footnotes as the sanitizer writes them, and with the heading a page gives them (as GitHub does): a section
#: without a heading is a warning of the Nu HTML Checker. Feeds keep the body as it is.
_FOOTNOTES = '<section class="footnotes" data-footnotes="">'
_FOOTNOTES_HEADED = _FOOTNOTES + '\n<h2 class="footnotes-heading">Footnotes</h2>'


def post_page(config: Config, entry: Entry, listed: Sequence[Listed]) -> bytes:
    """The HTML page of one post: its body, with microformats2 h-entry, Open Graph and the feeds it is in.

    h-entry: https://microformats.org/wiki/h-entry; Open Graph: https://ogp.me/.
    """
    post = entry.post
    feeds = feed_links(config, urls.SITE)
    tag_feeds = [(tag, feed_links(config, urls.tag_prefix(tag.slug))[0]) for tag in entry.tags] if post.feed else []
    authors = [
        (author, next((s for s in listed if s.kind == "author" and s.name == author.name), None))
        for author in post.authors or (config.author,)
    ]
    section = next((s for s in listed if s.kind == "section"), None)
    return _render(
        "post.html",
        config,
        entry=entry,
        body=Markup(entry.content_html.replace(_FOOTNOTES, _FOOTNOTES_HEADED)),
        lead_image=post.image if post.image and f'src="{post.image}"' not in entry.content_html else None,  # not twice
        post=post,
        feeds=feeds,
        tag_feeds=tag_feeds,
        authors=authors,
        section=section,
        lang=post.language or config.language,
        # The post's Article, for Mastodon's search and other fediverse software that finds it from the page.
        activity=urls.absolute(config.site_url, urls.object_path(post.id)) if config.fediverse and post.feed else None,
    )


def opml(config: Config, listed: Sequence[Listed], filename: str, newest: datetime | None) -> bytes:
    """Return the OPML 2.0 subscription list: one outline per scope, in the format of ``filename``.

    One outline per scope, not three: an aggregator importing three formats
    of one feed would show every post three times. http://opml.org/spec2.opml
    """
    # "version" is defined for RSS only (RSS, RSS1, RSS2, scriptingNews).
    version = "RSS2" if filename == "feed.xml" else None
    return _render("feeds.opml", config, scopes=listed, newest=newest, filename=filename, version=version, label=FORMATS[filename].label)


def feed_view(config: Config, page: FeedPage) -> bytes:
    """Return the HTML a browser gets for one feed document of a scope (any of its formats)."""
    return _render("feed.html", config, page=page, feeds=feed_links(config, page.prefix), entries=page.entries, home=page.home_url)
