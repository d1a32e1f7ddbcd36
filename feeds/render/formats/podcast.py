"""The podcast tags of a show's RSS feed: Apple's ``itunes:`` and Podcasting 2.0's ``podcast:``, as a feedgen extension.

Apple's required and recommended tags (itunes_reference.md in podcastindex-org/podcast-namespace,
archived from https://help.apple.com/itc/podcasts_connect/#/itcb54353390): channel ``itunes:image``,
``itunes:category``, ``itunes:explicit``, ``itunes:author``, ``itunes:owner``, ``itunes:type``,
``itunes:complete``, ``itunes:new-feed-url``; item ``itunes:duration``, ``itunes:image``,
``itunes:explicit``, ``itunes:episode``, ``itunes:season``, ``itunes:episodeType``. The
Podcasting 2.0 tags (https://podcastindex.org/namespace/1.0): channel ``podcast:guid``,
``podcast:locked``, ``podcast:funding``; item ``podcast:transcript``, ``podcast:chapters``.

The RSS generator registers the channel extension only for a scope that is a show; an item's
tags depend on its post alone, so they are written by the per-post entry built for shows
(``_feedgen.feed_entry(..., show=True)``), shared by every show that lists the post.
"""

from __future__ import annotations

from typing import Any

from feedgen.ext.base import BaseExtension
from lxml import etree

from feeds import urls
from feeds.models import Entry, FeedPage
from feeds.podcast import CHAPTERS_TYPE, ITUNES_NS, PODCAST_NS, Show, show_guid

NAMESPACES = {"itunes": ITUNES_NS, "podcast": PODCAST_NS}
#: The plain-text podcast elements, written like titles (see _text.hex_references).
TEXT_ELEMENTS = ("itunes:author", "itunes:name", "podcast:funding")


def _itunes(name: str) -> str:
    return f"{{{ITUNES_NS}}}{name}"


def _podcast(name: str) -> str:
    return f"{{{PODCAST_NS}}}{name}"


def extension(page: FeedPage, show: Show) -> type[BaseExtension]:
    """The feedgen extension that makes ``page``'s RSS document a podcast feed of ``show``."""

    class Podcast(BaseExtension):  # type: ignore[misc]
        def extend_ns(self) -> dict[str, str]:
            return NAMESPACES

        def extend_rss(self, rss: Any) -> Any:
            # Runs before feedgen appends the items: the show's tags come after the other channel elements.
            rss.find("channel").extend(channel_elements(page, show))
            return rss

    return Podcast


def channel_elements(page: FeedPage, show: Show) -> list[Any]:
    """The show's channel elements, Apple's first."""
    out: list[Any] = []
    if show.owner is not None:
        owner = etree.Element(_itunes("owner"))
        if show.owner.name:
            etree.SubElement(owner, _itunes("name")).text = show.owner.name
        if show.owner.email:
            etree.SubElement(owner, _itunes("email")).text = show.owner.email
        out.append(owner)
    # After the owner: feedparser writes the owner's name into the feed's author too, so the last one wins there.
    author = show.author or (page.authors[0].name if page.authors else None)
    if author:
        out.append(_element(_itunes("author"), author))
    if show.image:
        out.append(etree.Element(_itunes("image"), {"href": urls.absolute_or_as_is(page.site_url, show.image)}))
    if show.category:
        category = etree.Element(_itunes("category"), {"text": show.category[0]})
        if len(show.category) > 1:
            etree.SubElement(category, _itunes("category"), {"text": show.category[1]})
        out.append(category)
    if show.explicit is not None:
        out.append(_element(_itunes("explicit"), _true_false(show.explicit)))
    out.append(_element(_itunes("type"), show.type))
    if show.complete:
        out.append(_element(_itunes("complete"), "Yes"))  # "any value other than Yes has no effect"
    if show.new_feed_url:
        out.append(_element(_itunes("new-feed-url"), show.new_feed_url))
    # The GUID of a show follows it for life: seeded from its current feed's URL (in its archives too), unless set.
    out.append(_element(_podcast("guid"), show.guid or show_guid(page.url("feed.xml", None))))
    if show.locked is not None:
        attributes = {"owner": show.owner.email} if show.owner is not None and show.owner.email else {}
        out.append(_element(_podcast("locked"), "yes" if show.locked else "no", attributes))
    for funding in show.funding:
        out.append(_element(_podcast("funding"), funding.text, {"url": funding.url}))
    return out


def item_elements(entry: Entry) -> list[Any]:
    """The podcast elements of one item: Apple's, then the transcripts and chapters."""
    post = entry.post
    out: list[Any] = []
    episode = post.episode
    if post.image:
        out.append(etree.Element(_itunes("image"), {"href": post.image}))
    if episode is None:
        return out
    if episode.duration is not None:
        out.append(_element(_itunes("duration"), str(episode.duration)))  # seconds: what Apple recommends
    if episode.explicit is not None:
        out.append(_element(_itunes("explicit"), _true_false(episode.explicit)))
    if episode.season is not None:
        out.append(_element(_itunes("season"), str(episode.season)))
    if episode.number is not None:
        out.append(_element(_itunes("episode"), str(episode.number)))
    if episode.episode_type is not None:
        out.append(_element(_itunes("episodeType"), episode.episode_type))
    for transcript in episode.transcripts:
        attributes = {"url": transcript.url, "type": transcript.type}
        if transcript.language:
            attributes["language"] = transcript.language
        if transcript.rel:
            attributes["rel"] = transcript.rel
        out.append(etree.Element(_podcast("transcript"), attributes))
    if episode.chapters:
        out.append(etree.Element(_podcast("chapters"), {"url": episode.chapters, "type": CHAPTERS_TYPE}))
    return out


def _element(tag: str, text: str, attributes: dict[str, str] | None = None) -> Any:
    element = etree.Element(tag, attributes or {})
    element.text = text
    return element


def _true_false(value: bool) -> str:
    # Apple's values since 2021 (the older yes/no/clean draw the validator's InvalidTrueFalse).
    return "true" if value else "false"
