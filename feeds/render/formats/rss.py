"""RSS 2.0 through feedgen: https://www.rssboard.org/rss-specification."""

from __future__ import annotations

from typing import cast

from feeds.models import FeedPage

from . import podcast
from ._feedgen import feed_generator
from ._text import hex_references

MEDIA_TYPE = "application/rss+xml; charset=utf-8"

# The plain-text elements (the validator's "nonhtml" ones) before the first item and within items;
# an item's <description> and content:encoded are HTML and keep lxml's spelling.
_CHANNEL_TEXT = ("title", "description", *podcast.TEXT_ELEMENTS)
_ITEM_TEXT = ("title", "category", "author", "dc:creator")


#: feedgen declares the content module on every feed; a summary-only feed, or one of posts with no body, never uses it.
_CONTENT_NS = b' xmlns:content="http://purl.org/rss/1.0/modules/content/"'


def render(page: FeedPage) -> bytes:
    """Render ``page`` as an RSS 2.0 document."""
    xml = cast(bytes, feed_generator(page, "feed.xml").rss_str(pretty=True, encoding="UTF-8"))
    if b"<content:encoded>" not in xml:
        xml = xml.replace(_CONTENT_NS, b"", 1)
    channel, item, items = xml.partition(b"<item>")
    return hex_references(channel, _CHANNEL_TEXT) + item + hex_references(items, _ITEM_TEXT)
