"""Subscriber counts as every view shows them: per feed, by source and by format; and daily history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from feeds import urls
from feeds.render.formats import FORMATS

#: Feed file name → the format's name in counts (rss, atom, json); the same order as FORMATS.
FORMAT_NAMES: dict[str, str] = {"feed.xml": "rss", "atom.xml": "atom", "feed.json": "json"}
assert set(FORMAT_NAMES) == set(FORMATS), "a feed format without a name in counts"
#: The sources that are not aggregators.
DIRECT, FEDIVERSE = "direct", "fediverse"
#: The "format" of a count with the feed's formats folded (a direct reader of two formats counts once).
ALL = "all"


def feed_of(path: str) -> tuple[str, str] | None:
    """Return (feed, format) of a feed URL path, archives and old page URLs folded onto the feed (``/tags/go/archive/2/atom.xml``:
    ``/tags/go/``, atom)."""
    parts = urls.split_feed_path(path)
    if parts is None:
        page = urls.split_page_path(path)  # an old /page/N/ URL, still polled (N >= 2; /page/1/ is the feed's redirect)
        parts = page if page is not None and page[2] >= 2 else None
    if parts is None or parts[1] not in FORMAT_NAMES:
        return None
    return parts[0], FORMAT_NAMES[parts[1]]


def group(source: str) -> str:
    """The group a source is drawn in: ``aggregators``, ``direct`` or ``fediverse``."""
    return source if source in (DIRECT, FEDIVERSE) else "aggregators"


@dataclass(frozen=True)
class FeedCounts:
    #: The feed's path prefix: ``/`` for the site's feeds, ``/tags/<slug>/`` for a tag's.
    feed: str
    #: Subscribers by source (an aggregator's name, ``direct``, ``fediverse``), the feed's formats folded.
    sources: Mapping[str, int] = field(default_factory=dict)
    #: Subscribers by format (``rss``, ``atom``, ``json``), then by source; the fediverse has no format.
    formats: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.sources.values())

    def fields(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "subscribers": self.total,
            "sources": dict(sorted(self.sources.items())),
            "formats": {name: dict(sorted(self.formats.get(name, {}).items())) for name in FORMAT_NAMES.values()},
        }


@dataclass(frozen=True)
class Counts:
    #: When the counts were read.
    at: datetime
    #: By feed prefix.
    feeds: Mapping[str, FeedCounts] = field(default_factory=dict)

    def get(self, feed: str) -> FeedCounts:
        return self.feeds.get(feed) or FeedCounts(feed)

    def ordered(self, feeds: list[str] | None = None) -> list[FeedCounts]:
        """The counts of ``feeds`` (default: those with any), most subscribers first, then by path."""
        names = set(self.feeds) | set(feeds or ())
        return sorted((self.get(name) for name in names), key=lambda c: (-c.total, c.feed))


@dataclass(frozen=True)
class Day:
    """One feed's subscribers on one day, by source, its formats folded."""

    day: date
    sources: Mapping[str, int]

    def groups(self) -> dict[str, int]:
        """By group (aggregators, direct, fediverse)."""
        totals = {"aggregators": 0, DIRECT: 0, FEDIVERSE: 0}
        for source, count in self.sources.items():
            totals[group(source)] += count
        return totals
