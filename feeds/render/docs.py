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
    if doc.kind == "feed":
        assert doc.page is not None and doc.filename is not None
        return FORMATS[doc.filename].render(replace(doc.page, entries=entries))
    if doc.kind == "view":
        assert doc.page is not None
        return pages.feed_view(config, replace(doc.page, entries=entries))
    if doc.kind == "home":
        return pages.home(config, entries, len(doc.tag_counts))
    if doc.kind == "tags":
        return pages.tag_list(config, doc.tag_counts)
    if doc.kind == "tag":
        assert doc.tag is not None
        return pages.tag_page(config, doc.tag, doc.count, entries)
    if doc.kind.startswith("ap-"):
        return _activity(doc, config, entries)
    if doc.kind == "opml":
        assert doc.filename is not None
        return pages.opml(config, doc.tag_counts, doc.filename, doc.newest)
    raise ValueError(f"unknown document kind {doc.kind!r}")


def _activity(doc: Doc, config: Config, entries: tuple[Entry, ...]) -> bytes:
    if doc.kind == "ap-object":
        return activity.article_document(config, entries[0])
    if doc.kind == "ap-outbox":
        assert doc.page is not None
        return activity.outbox_page(config, doc.page.tag, doc.page.page, doc.page.last_page, entries)
    if doc.kind == "ap-collection":
        return activity.outbox_collection(config, doc.tag, doc.count, max(1, -(-doc.count // config.items_per_feed)))
    if doc.kind == "ap-index":
        return activity.post_index(config, doc.links)
    raise ValueError(f"unknown document kind {doc.kind!r}")
