"""Remote actors: fetch one (signed, SSRF-checked), read its key and inboxes, and keep it in the database.

A keyId is usually ``<actor>#main-key``: its document is the actor, whose
``publicKey`` has that id (Mastodon, Fedify). Some servers serve the key as its own
document, naming its ``owner``; then the owner is fetched too and must list the
key. The actor's id must be on the host of the URL it was fetched from, and the
key's owner must be the actor, or the key is refused (a server vouches only for
its own actors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urldefrag, urlsplit

from feeds import limits
from feeds.fediverse import signatures, store
from feeds.fediverse.errors import FetchError
from feeds.fediverse.net import Client, SignFunction
from feeds.fediverse.store import RemoteActor

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
_JSON_TYPES = ("application/activity+json", "application/ld+json", "application/json")


def parse_json(raw: bytes, what: str) -> dict[str, Any]:
    """Parse a JSON object no deeper than ``MAX_JSON_DEPTH``; ValueError naming ``what`` otherwise.

    The body is already bounded in size; json's parser stops a deeper nesting than the
    interpreter's recursion limit itself, and the walk below (iterative) the rest.
    """
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{what} is not JSON (or is nested too deep)") from e
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.MAX_JSON_DEPTH:
            raise ValueError(f"{what} is nested deeper than {limits.MAX_JSON_DEPTH}")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value


def id_of(value: Any) -> str | None:
    """The id of a value that is a URL or an object with an ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def same_host(a: str, b: str) -> bool:
    return (urlsplit(a).hostname or "").lower() == (urlsplit(b).hostname or "").lower() and bool(urlsplit(a).hostname)


def fetch_document(client: Client, url: str, sign: SignFunction | None) -> dict[str, Any]:
    response = client.get(urldefrag(url)[0], ACCEPT, sign=sign)
    if response.status != 200:
        raise FetchError(url, f"HTTP {response.status}", response.status)
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise FetchError(url, f"not an ActivityStreams document ({media_type[:60] or 'no type'})", 200)
    try:
        document = parse_json(response.body, "the document")
    except ValueError as e:
        raise FetchError(url, str(e), 200) from e
    if not isinstance(document.get("id"), str) or not same_host(document["id"], response.url):
        raise FetchError(url, "the document's id is not on the host that served it", 200)
    return document


def _key_in(actor: Mapping[str, Any], key_id: str) -> Mapping[str, Any] | None:
    keys = actor.get("publicKey")
    for key in keys if isinstance(keys, list) else [keys]:
        if isinstance(key, Mapping) and key.get("id") == key_id:
            return key
    return None


def _url(value: Any, what: str, actor: str) -> str:
    if not isinstance(value, str) or len(value) > limits.MAX_REMOTE_URL or not value.startswith(("https://", "http://")):
        raise FetchError(actor, f"the actor's {what} is not an http(s) URL", 200)
    return value


def fetch_actor(client: Client, key_id: str, sign: SignFunction | None) -> RemoteActor:
    """Fetch the actor that owns ``key_id`` and read its key and inboxes; FetchError (or RefusedError) when we cannot."""
    document = fetch_document(client, key_id, sign)
    key = _key_in(document, key_id)
    if key is None and isinstance(document.get("publicKeyPem"), str):  # the key is a document of its own
        owner = id_of(document.get("owner"))
        if owner is None or not same_host(owner, key_id):
            raise FetchError(key_id, "the key has no owner on its own host", 200)
        key, document = document, fetch_document(client, owner, sign)
        if _key_in(document, key_id) is None:
            raise FetchError(key_id, "the key's owner does not list it", 200)
    if key is None:
        raise FetchError(key_id, "the document has no such publicKey", 200)
    actor_id = document["id"]
    if id_of(key.get("owner")) not in (None, actor_id) or not same_host(actor_id, key_id):
        raise FetchError(key_id, "the key does not belong to the actor", 200)
    pem = key.get("publicKeyPem")
    if not isinstance(pem, str):
        raise FetchError(key_id, "the key has no publicKeyPem", 200)
    signatures.load_public(pem)  # refuse what we could never verify with
    endpoints = document.get("endpoints")
    shared = endpoints.get("sharedInbox") if isinstance(endpoints, Mapping) else None
    return RemoteActor(
        actor_id,
        key_id,
        pem,
        _url(document.get("inbox"), "inbox", actor_id),
        _url(shared, "shared inbox", actor_id) if shared is not None else None,
        store.now_ms(),
    )
