"""The documents built per request or per delivery: actors, WebFinger, NodeInfo, followers and the activities we send.

Actors carry their public key from the database, so they are not snapshot documents;
everything deterministic (Articles, outboxes) is (``feeds.render.activity``).
https://www.w3.org/TR/activitypub/#actor-objects, https://docs.joinmastodon.org/spec/activitypub/#profile,
https://www.rfc-editor.org/rfc/rfc7033 (WebFinger), https://github.com/jhass/nodeinfo/blob/main/schemas/2.1/schema.json
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

from feeds import __version__, urls
from feeds.config import Config
from feeds.fediverse.accounts import Account
from feeds.render import activity
from feeds.render.activity import CONTEXT, PUBLIC

JRD = "application/jrd+json"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_PROFILE = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
#: Actor documents add the security vocabulary (publicKey) and Mastodon's terms they use.
ACTOR_CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
    },
]


def key_id(account: Account) -> str:
    return account.id + "#main-key"


def actor(config: Config, account: Account, public_pem: str) -> dict[str, Any]:
    """The actor document of an account: the site is a Person, each tag an automated Service (a bot that boosts)."""
    if account.tag is None:
        name, summary = config.title, config.description
    else:
        name = f"{config.title}: {account.tag.name}"
        summary = f"Posts tagged {account.tag.name} on {config.title}."
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": account.id,
        "type": "Person" if account.tag is None else "Service",
        "preferredUsername": account.name,
        "name": name,
        "summary": f"<p>{html.escape(summary, quote=False)}</p>",
        "url": account.url,
        "inbox": account.id + "/inbox",
        "outbox": account.id + "/outbox",
        "followers": account.id + "/followers",
        "endpoints": {"sharedInbox": urls.absolute(config.site_url, urls.SHARED_INBOX)},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "publicKey": {"id": key_id(account), "owner": account.id, "publicKeyPem": public_pem},
    }
    if config.icon:
        document["icon"] = {"type": "Image", "url": urls.absolute_or_as_is(config.site_url, config.icon)}
    return document


def followers(account: Account, count: int) -> dict[str, Any]:
    """The followers collection: the count only (who follows is not published; see the manual's privacy section)."""
    return {"@context": CONTEXT, "id": account.id + "/followers", "type": "OrderedCollection", "totalItems": count}


def webfinger(config: Config, account: Account) -> dict[str, Any]:
    host = site_host(config)
    return {
        "subject": f"acct:{account.name}@{host}",
        "aliases": [account.id, account.url],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": account.id},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": account.url},
        ],
    }


def site_host(config: Config) -> str:
    """``site_url``'s host[:port], as WebFinger's ``acct:`` names it."""
    return config.site_url.split("://", 1)[1].split("/", 1)[0].lower()


def nodeinfo_links(config: Config) -> dict[str, Any]:
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": urls.absolute(config.site_url, urls.NODEINFO)}]}


def nodeinfo(config: Config, accounts: int, posts: int) -> dict[str, Any]:
    return {
        "version": "2.1",
        "software": {"name": "feeds", "version": __version__},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0", "rss2.0"]},
        "openRegistrations": False,
        "usage": {"users": {"total": accounts, "activeMonth": accounts, "activeHalfyear": accounts}, "localPosts": posts},
        "metadata": {"nodeName": config.title, "nodeDescription": config.description},
    }


# -- activities we send ----------------------------------------------------------------------


def accept(account: Account, follow: dict[str, Any]) -> dict[str, Any]:
    """Accept a Follow, naming it as received (its id, actor and object), as Mastodon matches it."""
    echoed = {key: follow[key] for key in ("id", "type", "actor", "object") if key in follow}
    digest = hashlib.sha256(str(echoed.get("id")).encode()).hexdigest()[:16]
    return {"@context": CONTEXT, "id": f"{account.id}#accepts/{digest}", "type": "Accept", "actor": account.id, "object": echoed}


def create(article: dict[str, Any]) -> dict[str, Any]:
    """The Create of a post's Article, as the site's outbox lists it."""
    return {"@context": CONTEXT, **activity.create(article)}


def update(article: dict[str, Any], version: str) -> dict[str, Any]:
    obj = {key: value for key, value in article.items() if key != "@context"}
    return {
        "@context": CONTEXT,
        "id": f"{obj['id']}#update-{version}",
        "type": "Update",
        "actor": obj["attributedTo"],
        "published": obj["updated"],
        "to": obj["to"],
        "cc": obj["cc"],
        "object": obj,
    }


def announce(actor: str, site: str, object_id: str, published: str) -> dict[str, Any]:
    """A tag account's boost of a post, as its outbox lists it."""
    return {"@context": CONTEXT, **activity.announce(actor, site, object_id, published)}


def undo_announce(actor: str, site: str, object_id: str, published: str) -> dict[str, Any]:
    """Take a tag account's boost back (the post lost the tag): Mastodon removes the boost it names by id."""
    boost = activity.announce(actor, site, object_id, published)
    return {"@context": CONTEXT, "id": boost["id"] + "#undo", "type": "Undo", "actor": actor, "to": boost["to"], "object": boost}


def delete(site: Account, object_id: str) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": object_id + "#delete",
        "type": "Delete",
        "actor": site.id,
        "to": [PUBLIC],
        "cc": [site.id + "/followers"],
        "object": {"id": object_id, "type": "Tombstone"},
    }
