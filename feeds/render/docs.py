"""Render one planned document to bytes, given the rendered HTML of the posts it shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from feeds.config import Config
from feeds.models import Entry, Post, Tag
from feeds.render import activity, pages
from feeds.render.formats import FORMATS
from feeds.render.markup import Rendered
from feeds.render.plan import Doc

#: Returns the rendered body of a post (from the render store, or rendering it).
Lookup = Callable[[Post], Rendered]


def entry(post: Post, tags: tuple[Tag, ...], rendered: Rendered) -> Entry:
    """A post ready to render: its HTML, its summary (the front matter's, else the first paragraph) and its tags."""
    return Entry(post, rendered.html, post.summary or rendered.first_paragraph, tags)


def render(doc: Doc, config: Config, lookup: Lookup) -> bytes:
    """Return the bytes of ``doc``."""
    entries = tuple(entry(post, tags, lookup(post)) for post, tags in zip(doc.posts, doc.post_tags, strict=True))
    return RENDERERS[doc.kind](doc, config, entries)


def _feed(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    assert doc.page is not None and doc.filename is not None
    return FORMATS[doc.filename].render(replace(doc.page, entries=entries))


def _view(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    assert doc.page is not None
    return pages.feed_view(config, replace(doc.page, entries=entries))


def _list(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    assert doc.filename is not None
    return pages.scope_list(config, doc.filename, doc.listed)


def _opml(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    assert doc.filename is not None
    return pages.opml(config, doc.listed, doc.filename, doc.newest)


def _outbox(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    scope = doc.listed[0]
    last = activity.pages(doc.count, config.options(scope.kind, scope.slug).items_per_feed or 1)
    if doc.kind == "outbox":
        return activity.outbox_collection(config, scope.slug or None, doc.count, last)
    return activity.outbox_page(config, scope.slug or None, doc.number, last, entries)


#: How each kind of document is rendered, from its plan and the entries of the posts it shows.
RENDERERS: dict[str, Callable[[Doc, Config, tuple[Entry, ...]], bytes]] = {
    "feed": _feed,
    "view": _view,
    "home": lambda doc, config, entries: pages.home(config, entries, doc.listed),
    "list": _list,
    "scope": lambda doc, config, entries: pages.scope_page(config, doc.listed[0], entries),
    "opml": _opml,
    "post": lambda doc, config, entries: pages.post_page(config, entries[0], doc.listed),
    "article": lambda doc, config, entries: activity.article_document(config, entries[0], in_site=bool(doc.listed)),
    "outbox": _outbox,
    "outbox-page": _outbox,
}
