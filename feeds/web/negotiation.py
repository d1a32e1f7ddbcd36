"""Pure helpers over request headers: who gets the browser view or an ActivityStreams object, and the feed's Link header."""

from __future__ import annotations

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Types that mean "I can read the feed itself" (a feed reader, or a generic XML/JSON client).
_FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/json",
    }
)


def prefers_html(accept: str | None) -> bool:
    """Return whether an ``Accept`` header ranks HTML above every feed type.

    Browsers navigating send ``text/html,application/xhtml+xml,application/xml;q=0.9,…``
    and get the HTML view; readers send feed types, ``*/*`` or nothing and get
    the feed. Wildcards never count as HTML, and a tie goes to the feed.
    """
    if not accept:
        return False
    html = feed = 0.0
    for value, quality in parse_accept_header(accept, MIMEAccept):
        media_type = value.split(";", 1)[0].strip().lower()
        if media_type in _HTML_TYPES:
            html = max(html, quality)
        elif media_type in _FEED_TYPES:
            feed = max(feed, quality)
    return html > feed


#: What asks for ActivityStreams: its own type, or JSON-LD (ActivityPub §3.2 names ``application/ld+json;
#: profile="https://www.w3.org/ns/activitystreams"``; the profile is not checked, as Mastodon does not).
_ACTIVITY_TYPES = frozenset({"application/activity+json", "application/ld+json"})


def wants_activity(accept: str | None) -> bool:
    """Return whether ``Accept`` asks for ActivityStreams at least as much as for HTML (wildcards count for neither).

    https://www.w3.org/TR/activitypub/#retrieving-objects
    """
    if not accept:
        return False
    activity = page = 0.0
    for value, quality in parse_accept_header(accept, MIMEAccept):
        media_type = value.split(";", 1)[0].strip().lower()
        if media_type in _ACTIVITY_TYPES:
            activity = max(activity, quality)
        elif media_type in _HTML_TYPES:
            page = max(page, quality)
    return activity > 0 and activity >= page


def link_header(self_url: str, hubs: tuple[str, ...]) -> str:
    """Return the WebSub discovery ``Link`` header: https://www.w3.org/TR/websub/#discovery."""
    return ", ".join([*(f'<{hub}>; rel="hub"' for hub in hubs), f'<{self_url}>; rel="self"'])
