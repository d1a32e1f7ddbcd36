"""Output formats: a registry from feed file name to media type and renderer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from feeds.models import FeedPage

from . import atom, jsonfeed, rss


@dataclass(frozen=True)
class Format:
    #: File name under a feed's base URL (``feed.xml``).
    filename: str
    media_type: str
    render: Callable[[FeedPage], bytes]
    #: Human name for the HTML pages ("RSS 2.0").
    label: str


FORMATS: dict[str, Format] = {
    f.filename: f
    for f in (
        Format("feed.xml", rss.MEDIA_TYPE, rss.render, "RSS 2.0"),
        Format("atom.xml", atom.MEDIA_TYPE, atom.render, "Atom 1.0"),
        Format("feed.json", jsonfeed.MEDIA_TYPE, jsonfeed.render, "JSON Feed 1.1"),
    )
}
