"""The ActivityStreams documents a snapshot holds: each post's Article, and every account's outbox and its pages.

Pure and deterministic, like the feeds: the same posts give the same bytes on every
worker and host, so the builder renders them into the snapshot. What changes per
request (actors with their keys, follower counts, WebFinger) is built by the
fediverse stage from the database instead. The activities are built here too, so
that an outbox lists exactly what the deliveries send (``feeds.fediverse.documents``).

How Mastodon reads an Article (https://docs.joinmastodon.org/spec/activitypub/#payloads,
and Fedify's manual, "Pragmatics"): it is a "converted" type, shown as its ``name`` in
bold, its ``summary`` and a link to its ``url`` — not its ``content`` (other servers show
that). On a ``Note`` the ``summary`` would be a content warning; on an Article it is not.

Outboxes (https://www.w3.org/TR/activitypub/#outbox: an OrderedCollection, newest first)
are paged like the scope's archives (RFC 5005 §4): page k holds the oldest-first posts
[(k−1)N, kN), newest first inside, and the newest page the rest; the collection's
``first`` is the newest page and each page's ``next`` the one before it. A page keeps
its bytes as posts are added, but for the one time it gains a ``prev``.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from feeds import urls
from feeds.config import Config
from feeds.models import Entry, Tag

ACTIVITY_JSON = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
#: The contexts every document names: ActivityStreams, and the extension terms we use (Mastodon's).
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    {"Hashtag": "as:Hashtag", "sensitive": "as:sensitive"},
]
_HASHTAG_DROP = re.compile(r"[^\w]+")


def dumps(document: dict[str, Any]) -> bytes:
    """The bytes of a document: compact, UTF-8, key order as built (deterministic)."""
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def when(moment: datetime) -> str:
    """An xsd:dateTime in UTC with a Z, as Mastodon writes them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_id(config: Config, tag_slug: str | None) -> str:
    return urls.absolute(config.site_url, urls.actor_path(tag_slug))


def object_id(config: Config, post_id: str) -> str:
    return urls.absolute(config.site_url, urls.object_path(post_id))


def hashtag_name(tag: Tag) -> str | None:
    """``#PubSub`` for ``Pub/Sub``: Mastodon's hashtags are letters, digits and underscores (none for an all-digit tag)."""
    name = _HASHTAG_DROP.sub("", tag.name)
    return f"#{name}" if name and not name.isdigit() else None


def pages(count: int, size: int) -> int:
    """How many pages an outbox of ``count`` posts has, ``size`` a page (the newest may hold fewer)."""
    return -(-count // size)


# -- the activities (the outboxes list them; the deliveries send them with an @context) -----------


def create_id(object_id: str) -> str:
    return object_id + "#create"


def announce_id(actor: str, object_id: str) -> str:
    """A tag account's boost of a post: one per (tag, post), named by the object's last segment."""
    return f"{actor}/announces/{object_id.rsplit('/', 1)[1]}"


def create(article: dict[str, Any]) -> dict[str, Any]:
    """The Create of an Article by the site account, addressed as the Article is."""
    obj = {key: value for key, value in article.items() if key != "@context"}
    return {
        "id": create_id(obj["id"]),
        "type": "Create",
        "actor": obj["attributedTo"],
        "published": obj["published"],
        "to": obj["to"],
        "cc": obj["cc"],
        "object": obj,
    }


def announce(actor: str, site: str, object_id: str, published: str) -> dict[str, Any]:
    """A tag account's boost of a post, addressed as Mastodon addresses a public boost."""
    return {
        "id": announce_id(actor, object_id),
        "type": "Announce",
        "actor": actor,
        "published": published,
        "to": [PUBLIC],
        "cc": [actor + "/followers", site],
        "object": object_id,
    }


# -- the snapshot's documents --------------------------------------------------------------------


def article(config: Config, entry: Entry, in_site: bool = True) -> dict[str, Any]:
    """The Article of one post, without ``@context``; ``in_site``: the site account's followers are its audience.

    A post kept out of the site's feeds (a section with ``site_feeds = false``) is not addressed to the
    site's followers; its tags' accounts still boost it. A site whose feeds are summary-only (``feed_content``)
    sends the summary and a link as the content.
    """
    post = entry.post
    site = actor_id(config, None)
    content = entry.content_html
    if config.feed_content != "full":
        link = html.escape(post.url)
        content = f'<p>{html.escape(entry.summary, quote=False)}</p><p><a href="{link}">{link}</a></p>'
    document: dict[str, Any] = {
        "id": object_id(config, post.id),
        "type": "Article",
        "attributedTo": site,
        "name": post.title,
        "nameMap": {post.language or config.language: post.title},
        "summary": f"<p>{html.escape(entry.summary, quote=False)}</p>" if entry.summary else None,
        "content": content,
        "url": post.url,
        "published": when(post.published),
        "updated": when(post.updated),
        "to": [PUBLIC],
        "cc": [site + "/followers"] if in_site else [],
        "sensitive": False,
        "tag": [],
        "attachment": [],
    }
    if document["summary"] is None:
        del document["summary"]
    for tag in entry.tags:
        name = hashtag_name(tag)
        if name is not None:
            document["tag"].append({"type": "Hashtag", "href": urls.absolute(config.site_url, urls.tag_prefix(tag.slug)), "name": name})
    if post.image:
        media_type = mimetypes.guess_type(post.image)[0] or "image/jpeg"
        document["image"] = {"type": "Image", "url": post.image, "mediaType": media_type}
        document["attachment"].append({"type": "Image", "mediaType": media_type, "url": post.image, "name": post.title})
    if post.enclosure is not None:
        kind = {"audio": "Audio", "video": "Video", "image": "Image"}.get(post.enclosure.type.split("/")[0], "Document")
        document["attachment"].append({"type": kind, "mediaType": post.enclosure.type, "url": post.enclosure.url, "name": post.title})
    return document


def article_document(config: Config, entry: Entry, in_site: bool) -> bytes:
    return dumps({"@context": CONTEXT, **article(config, entry, in_site)})


def outbox_collection(config: Config, tag_slug: str | None, total: int, last: int) -> bytes:
    """An account's outbox: its count, its newest page (``first``) and its oldest (``last``)."""
    actor = actor_id(config, tag_slug)
    document: dict[str, Any] = {"@context": CONTEXT, "id": actor + "/outbox", "type": "OrderedCollection", "totalItems": total}
    if last:
        document["first"] = actor + f"/outbox/page/{last}"
        document["last"] = actor + "/outbox/page/1"
    else:
        document["orderedItems"] = []
    return dumps(document)


def outbox_page(config: Config, tag_slug: str | None, number: int, last: int, entries: Sequence[Entry]) -> bytes:
    """Outbox page ``number`` (1 = the oldest) of ``last``: the site's Creates, or a tag's Announces, newest first."""
    actor = actor_id(config, tag_slug)
    if tag_slug is None:
        items = [create(article(config, entry)) for entry in entries]
    else:
        site = actor_id(config, None)
        items = [announce(actor, site, object_id(config, entry.post.id), when(entry.post.published)) for entry in entries]
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor + f"/outbox/page/{number}",
        "type": "OrderedCollectionPage",
        "partOf": actor + "/outbox",
    }
    if number < last:
        document["prev"] = actor + f"/outbox/page/{number + 1}"
    if number > 1:
        document["next"] = actor + f"/outbox/page/{number - 1}"
    document["orderedItems"] = items
    return dumps(document)
