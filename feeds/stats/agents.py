"""What a User-Agent says about who polls: an aggregator reporting its subscribers, a crawler, or a reader.

Hosted aggregators fetch a feed once for all their users and report how many
follow it in the User-Agent of every poll, a convention Google's Feedfetcher
and Bloglines started. The table below holds the formats seen from the ones
still running, each with where it is documented or seen:

- Feedly: ``Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )``
  (allinurl/goaccess#2094; docs.buttondown.com/rss-subscribers)
- Inoreader: ``Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)``
  (allinurl/goaccess#1870; docs.buttondown.com/rss-subscribers)
- NewsBlur: ``NewsBlur Feed Fetcher - 27 subscribers - https://www.newsblur.com/site/7704055/name (…)``, its site
  id as the feed id (samuelclay/NewsBlur apps/rss_feeds/models.py, ``Feed.user_agent``)
- Feedbin: ``Feedbin feed-id:1697787 - 102 subscribers`` (feedbin/crawler, the downloader's ``user_agent``;
  feedbin/crawler#5 added the feed id)
- The Old Reader: ``Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; feed-id=cead6c3a837650eeefd8fe4a)``
  (allinurl/goaccess#1870)
- Netvibes: ``Netvibes (http://www.netvibes.com/; 105 subscribers; feedID: 33718936)`` (allinurl/goaccess#130)
- BazQux Reader: ``Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 1 subscribers)``
  (docs.buttondown.com/rss-subscribers)
- Feed Wrangler: ``Feed Wrangler/1.0 (1 subscriber; feed-id=394524; http://feedwrangler.net; Allow like Gecko)``
  (allinurl/goaccess#557)
- Dreamwidth and LiveJournal: ``Dreamwidth Studios (webmaster@dreamwidth.org; for https://…/users/x_feed/; 2 readers)``
  (docs.buttondown.com/rss-subscribers; petefreitag.com/item/418.cfm for LiveJournal's)

Any other User-Agent with ``<n> subscribers`` (or ``readers``) counts too, under
``other:<its product name>``, as readers such as Lion Reader now send
(brendanlong/lion-reader#335). An aggregator's fetcher that reports no count
(Feedly's preview fetch) is neither a report nor a reader. Everything here is
what a client claims: a forged User-Agent is believed (bounded by
``MAX_REPORTED_SUBSCRIBERS`` and ``MAX_FEED_IDS``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from feeds.limits import MAX_FEED_ID, MAX_REPORTED_SUBSCRIBERS, MAX_USER_AGENT


@dataclass(frozen=True)
class Aggregator:
    #: The source name in counts, /metrics and the JSON (lower case).
    name: str
    #: What people call it.
    label: str
    #: Matches its User-Agent, with the count reported or not.
    identity: re.Pattern[str]
    #: Finds the count (group ``subscribers``) and, where it has one, its own feed id (group ``feed_id``).
    report: re.Pattern[str]
    #: Where the format is documented or seen.
    reference: str


def _aggregator(name: str, label: str, identity: str, report: str, reference: str) -> Aggregator:
    return Aggregator(name, label, re.compile(identity, re.IGNORECASE), re.compile(report, re.IGNORECASE), reference)


_COUNT = r"(?P<subscribers>[0-9]{1,12}) (?:subscribers?|readers?)\b"

AGGREGATORS: tuple[Aggregator, ...] = (
    _aggregator(
        "feedly",
        "Feedly",
        r"^Feedly/",
        rf"^Feedly/\S+ \([^)]*?\b{_COUNT}(?:[^)]*?feed-?id[=:] ?(?P<feed_id>[^;)\s]+))?",
        "https://github.com/allinurl/goaccess/issues/2094",
    ),
    _aggregator(
        "inoreader",
        "Inoreader",
        r"\binoreader\.com\b|^Inoreader/",
        rf"\binoreader\.com\b[^)]*?\b{_COUNT}(?:[^)]*?feed-?id[=:] ?(?P<feed_id>[^;)\s]+))?",
        "https://github.com/allinurl/goaccess/pull/1870",
    ),
    _aggregator(
        "newsblur",
        "NewsBlur",
        r"^NewsBlur (?:Feed|Page) Fetcher\b",
        rf"^NewsBlur Feed Fetcher - {_COUNT}(?: - https?://[^/\s]*newsblur\.com/site/(?P<feed_id>[0-9]+))?",
        "https://github.com/samuelclay/NewsBlur/blob/master/apps/rss_feeds/models.py",
    ),
    _aggregator(
        "feedbin",
        "Feedbin",
        r"^Feedbin\b",
        rf"^Feedbin feed-id:(?P<feed_id>[0-9]+) - {_COUNT}",
        "https://github.com/feedbin/crawler/pull/5",
    ),
    _aggregator(
        "theoldreader",
        "The Old Reader",
        r"\btheoldreader\.com\b",
        rf"\btheoldreader\.com; {_COUNT}(?:; feed-id=(?P<feed_id>[0-9a-f]+))?",
        "https://github.com/allinurl/goaccess/pull/1870",
    ),
    _aggregator(
        "netvibes",
        "Netvibes",
        r"^Netvibes\b",
        rf"^Netvibes \([^)]*?\b{_COUNT}(?:; feedID: (?P<feed_id>[0-9]+))?",
        "https://github.com/allinurl/goaccess/issues/130",
    ),
    _aggregator(
        "bazqux",
        "BazQux Reader",
        r"\bBazQux/",
        rf"\bBazQux/[^;)]*;[^)]*?\b{_COUNT}",
        "https://docs.buttondown.com/rss-subscribers",
    ),
    _aggregator(
        "feedwrangler",
        "Feed Wrangler",
        r"^Feed Wrangler/",
        rf"^Feed Wrangler/\S+ \({_COUNT}(?:; feed-id=(?P<feed_id>[0-9]+))?",
        "https://github.com/allinurl/goaccess/issues/557",
    ),
    _aggregator(
        "dreamwidth",
        "Dreamwidth",
        r"^Dreamwidth Studios\b",
        rf"^Dreamwidth Studios \([^)]*?; for (?P<feed_id>\S+?); {_COUNT}",
        "https://docs.buttondown.com/rss-subscribers",
    ),
    _aggregator(
        "livejournal",
        "LiveJournal",
        r"^LiveJournal\.com\b",
        rf"^LiveJournal\.com \([^)]*?; for (?P<feed_id>\S+?); {_COUNT}",
        "https://www.petefreitag.com/item/418.cfm",
    ),
)

AGGREGATORS_BY_NAME = {aggregator.name: aggregator for aggregator in AGGREGATORS}

#: Any other report: ``<n> subscribers`` or ``<n> readers`` in a User-Agent.
_ANY_REPORT = re.compile(rf"\b{_COUNT}", re.IGNORECASE)
#: Its product name: the first token, or the one after ``compatible;``.
_PRODUCT = re.compile(r"^(?:Mozilla/\S+ \((?:compatible; )?)?(?P<product>[A-Za-z][A-Za-z0-9 ._-]{0,31}?)\s*(?:[/;(]|$)")
#: Crawlers and link-preview fetchers: not subscribers. ``…bot`` ends a word in every major crawler's name
#: (Googlebot, bingbot, AhrefsBot, Twitterbot, Slackbot…).
_CRAWLER = re.compile(r"bot\b|crawl|spider|slurp|scrap|facebookexternalhit|validator|preview|archive\.org", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Report:
    """An aggregator's report, as its User-Agent gives it."""

    #: An aggregator's ``name``, or ``other:<product>``.
    aggregator: str
    #: The aggregator's own id of the feed ("" when it sends none).
    feed_id: str
    subscribers: int


Kind = Report | Literal["reader", "crawler", "aggregator"]


@functools.lru_cache(maxsize=4096)
def classify(user_agent: str) -> Kind:
    """Say who sends ``user_agent``: an aggregator's Report, a "reader", a "crawler", or an "aggregator" that reports nothing."""
    agent = user_agent[:MAX_USER_AGENT]
    for aggregator in AGGREGATORS:
        if aggregator.identity.search(agent):
            match = aggregator.report.search(agent)
            if match is None:
                return "aggregator"
            return _report(aggregator.name, match)
    match = _ANY_REPORT.search(agent)
    if match is not None:
        product = _PRODUCT.match(agent)
        name = "-".join(product["product"].lower().split()) if product else "unknown"
        return _report("other:" + name, match)
    if _CRAWLER.search(agent):
        return "crawler"
    return "reader"


def _report(name: str, match: re.Match[str]) -> Report:
    feed_id = (match.groupdict().get("feed_id") or "")[:MAX_FEED_ID]
    return Report(name, feed_id, min(int(match["subscribers"]), MAX_REPORTED_SUBSCRIBERS))


def label(source: str) -> str:
    """What to call a source on a page: an aggregator's label, ``other:x`` as ``x``, ``direct``, ``fediverse``."""
    if source in AGGREGATORS_BY_NAME:
        return AGGREGATORS_BY_NAME[source].label
    return {"direct": "Direct readers", "fediverse": "Fediverse followers"}.get(source, source.removeprefix("other:"))
