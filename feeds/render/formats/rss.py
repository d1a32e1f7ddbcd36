"""RSS 2.0 through feedgen: https://www.rssboard.org/rss-specification."""

from __future__ import annotations

from typing import cast

from feeds.models import FeedPage

from ._feedgen import feed_generator

MEDIA_TYPE = "application/rss+xml; charset=utf-8"


def render(page: FeedPage) -> bytes:
    """Render ``page`` as an RSS 2.0 document."""
    return cast(bytes, feed_generator(page, "feed.xml").rss_str(pretty=True, encoding="UTF-8"))
