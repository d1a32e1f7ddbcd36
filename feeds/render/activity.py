"""The ActivityStreams documents a snapshot holds: each post's Article, and every account's outbox pages.

Pure and deterministic, like the feeds: the same posts give the same bytes on every
worker and host, so the builder renders them into the snapshot. What changes per
request (actors with their keys, follower counts, WebFinger) is built by the
fediverse stage from the database instead.

How Mastodon reads an Article (https://docs.joinmastodon.org/spec/activitypub/#payloads,
and Fedify's manual, "Pragmatics"): it is a "converted" type, shown as its ``name`` in
bold, its ``summary`` and a link to its ``url`` — not its ``content`` (other servers show
that). On a ``Note`` the ``summary`` would be a content warning; on an Article it is not.
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


def actor_id(config: Config, tag: Tag | None) -> str:
    return urls.absolute(config.site_url, urls.actor_path(tag.slug if tag else None))


def object_id(config: Config, post_id: str) -> str:
    return urls.absolute(config.site_url, urls.object_path(post_id))


def hashtag_name(tag: Tag) -> str | None:
    """``#PubSub`` for ``Pub/Sub``: Mastodon's hashtags are letters, digits and underscores (none for an all-digit tag)."""
    name = _HASHTAG_DROP.sub("", tag.name)
    return f"#{name}" if name and not name.isdigit() else None


def article(config: Config, entry: Entry) -> dict[str, Any]:
    """The Article of one post, without ``@context`` (added by :func:`article_document` and the activities)."""
    post = entry.post
    site = actor_id(config, None)
    document: dict[str, Any] = {
        "id": object_id(config, post.id),
        "type": "Article",
        "attributedTo": site,
        "name": post.title,
        "nameMap": {config.language: post.title},
        "summary": f"<p>{html.escape(entry.summary, quote=False)}</p>" if entry.summary else None,
        "content": entry.content_html,
        "url": post.url,
        "published": when(post.published),
        "updated": when(post.updated),
        "to": [PUBLIC],
        "cc": [site + "/followers"],
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


def article_document(config: Config, entry: Entry) -> bytes:
    return dumps({"@context": CONTEXT, **article(config, entry)})


def create(config: Config, entry: Entry) -> dict[str, Any]:
    """The Create of a post's Article by the site account, as its outbox lists it."""
    obj = article(config, entry)
    return {
        "id": obj["id"] + "#create",
        "type": "Create",
        "actor": obj["attributedTo"],
        "published": obj["published"],
        **_audience(obj),
        "object": obj,
    }


def announce(config: Config, tag: Tag, post_id: str, published: datetime) -> dict[str, Any]:
    """A tag account's boost of a post: how its followers get the post in their home timelines."""
    actor = actor_id(config, tag)
    obj = object_id(config, post_id)
    return {
        "id": f"{actor}/announces/{obj.rsplit('/', 1)[1]}",
        "type": "Announce",
        "actor": actor,
        "published": when(published),
        "to": [PUBLIC],
        "cc": [actor + "/followers", actor_id(config, None)],
        "object": obj,
    }


def _audience(obj: dict[str, Any]) -> dict[str, Any]:
    return {"to": obj["to"], "cc": obj["cc"]}


def outbox_collection(config: Config, tag: Tag | None, total: int, last_page: int) -> bytes:
    """An account's outbox: its count and its first and last pages (newest first, like the feeds)."""
    actor = actor_id(config, tag)
    return dumps(
        {
            "@context": CONTEXT,
            "id": actor + "/outbox",
            "type": "OrderedCollection",
            "totalItems": total,
            "first": actor + f"/outbox/page/{1}",
            "last": actor + f"/outbox/page/{last_page}",
        }
    )


def outbox_page(config: Config, tag: Tag | None, page: int, last_page: int, entries: Sequence[Entry]) -> bytes:
    """One outbox page: the site's Creates, or a tag's Announces, of the posts of that feed page."""
    actor = actor_id(config, tag)
    if tag is None:
        items = [create(config, entry) for entry in entries]
    else:
        items = [announce(config, tag, entry.post.id, entry.post.published) for entry in entries]
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": actor + f"/outbox/page/{page}",
        "type": "OrderedCollectionPage",
        "partOf": actor + "/outbox",
        "orderedItems": items,
    }
    if page > 1:
        document["prev"] = actor + f"/outbox/page/{page - 1}"
    if page < last_page:
        document["next"] = actor + f"/outbox/page/{page + 1}"
    return dumps(document)


def post_index(config: Config, links: Sequence[tuple[str, str]]) -> bytes:
    """Which object each post path shows (``/posts/x/`` → ``/ap/objects/…``), for the negotiation at post URLs."""
    return dumps({path: obj for path, obj in links})
