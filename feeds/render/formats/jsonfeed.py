"""JSON Feed 1.1, serialized by hand (feedgen has none): https://www.jsonfeed.org/version/1.1/."""

from __future__ import annotations

import json
from typing import Any

from feeds.models import Author, Entry, FeedPage

MEDIA_TYPE = "application/feed+json; charset=utf-8"
VERSION = "https://jsonfeed.org/version/1.1"


def render(page: FeedPage) -> bytes:
    """Render ``page`` as a JSON Feed 1.1 document."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": page.title,
        "home_page_url": page.home_url,
        "feed_url": page.url("feed.json"),
        "description": page.description,
    }
    if page.icon:
        feed["icon"] = page.icon
    if page.favicon:
        feed["favicon"] = page.favicon
    if page.authors:
        feed["authors"] = [_author(a) for a in page.authors]
        feed["author"] = feed["authors"][0]  # for 1.0 readers, see _item
    feed["language"] = page.language
    if page.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in page.hubs]
    if page.older is not None:
        # Walks older: the current feed -> the newest archive -> ... -> archive 1 (RFC 5005 §4's prev-archive).
        feed["next_url"] = page.url("feed.json", page.older)
    feed["items"] = [_item(entry, page.authors, page.full, page.language) for entry in page.entries]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(entry: Entry, site_authors: tuple[Author, ...], full: bool, language: str) -> dict[str, Any]:
    post = entry.post
    item: dict[str, Any] = {"id": post.id, "url": post.url}
    if post.link != post.url:
        item["external_url"] = post.link
    item["title"] = post.title
    # One of content_html and content_text must be present (https://www.jsonfeed.org/version/1.1/#items-a-name-items-a):
    # a post with no body has an empty content_text (there is no HTML to give), and no summary; a summary-only
    # feed gives the summary as the text.
    if not full:
        item["content_text"] = entry.summary
    elif entry.content_html.strip():
        item["content_html"] = entry.content_html
    else:
        item["content_text"] = ""
    if entry.summary.strip():
        item["summary"] = entry.summary
    if post.image:
        item["image"] = post.image
        item["banner_image"] = post.image
    item["date_published"] = post.published.isoformat()
    item["date_modified"] = post.updated.isoformat()
    item["authors"] = [_author(a) for a in post.authors or site_authors]
    # JSON Feed 1.1 deprecates the 1.0 "author" but lets publishers keep it for older
    # readers (https://www.jsonfeed.org/version/1.1/#authors); feedparser's JSON parser
    # reads only "author" (feedparser/parsers/json.py).
    item["author"] = item["authors"][0]
    if entry.tags:
        item["tags"] = [tag.name for tag in entry.tags]
    if post.language and post.language != language:
        item["language"] = post.language
    if post.enclosure is not None:
        e = post.enclosure
        attachment: dict[str, Any] = {"url": e.url, "mime_type": e.type, **({"size_in_bytes": e.length} if e.length else {})}
        if post.episode is not None and post.episode.duration is not None:
            attachment["duration_in_seconds"] = post.episode.duration  # https://www.jsonfeed.org/version/1.1/#attachments
        item["attachments"] = [attachment]
    return item


def _author(author: Author) -> dict[str, str]:
    data = {"name": author.name}
    if author.url:
        data["url"] = author.url
    return data
