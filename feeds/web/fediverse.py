"""The fediverse's HTTP routes (``fediverse = true`` only): WebFinger, NodeInfo, actors, outboxes, objects, inboxes.

Actors, followers, WebFinger and NodeInfo are built per request (keys and counts
come from the database); Articles and outboxes are snapshot documents, served
like every other (ETag, 304, gzip). A post's own URL answers with its Article
when the client asks for ActivityStreams (what Mastodon's search does with a
pasted URL): that is the post route's negotiation (``feeds.web.routes.post``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, Response, current_app, redirect, request
from werkzeug.exceptions import BadRequest, NotFound, RequestEntityTooLarge

from feeds import limits, urls
from feeds.fediverse import documents
from feeds.fediverse.accounts import Account, Directory
from feeds.fediverse.inbox import Incoming
from feeds.render.activity import ACTIVITY_JSON
from feeds.render.plan import ACTIVITY
from feeds.service.fediverse import Fediverse
from feeds.snapshot.manifest import Manifest
from feeds.web import routes
from feeds.web.conditional import send
from feeds.web.negotiation import wants_activity

bp = Blueprint("fediverse", __name__)


def _fediverse() -> Fediverse:
    service: Fediverse = current_app.extensions["feeds.fediverse"]
    return service


def _json(document: dict[str, Any], media_type: str = ACTIVITY_JSON, cache: int = 60) -> Response:
    response = Response(json.dumps(document, ensure_ascii=False, separators=(",", ":")), content_type=media_type)
    response.headers["Cache-Control"] = f"public, max-age={cache}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Accept")
    return response


def _directory() -> tuple[Manifest, Directory]:
    manifest = routes._manifest()
    return manifest, _fediverse().directory(manifest)


def _account(slug: str | None) -> Account:
    _, directory = _directory()
    account = directory.get(slug)
    if account is None:
        raise NotFound(f"no tag {slug!r}" if slug else "no such account")
    return account


@bp.get("/.well-known/webfinger")
def webfinger() -> Response:
    """https://www.rfc-editor.org/rfc/rfc7033#section-4 — ``resource`` is ``acct:name@host`` or an actor's URL."""
    resource = request.args.get("resource", "")
    if not resource or len(resource) > limits.MAX_REMOTE_URL:
        raise BadRequest("resource is required")
    config = _fediverse().config
    _, directory = _directory()
    account: Account | None = None
    if resource.lower().startswith("acct:"):
        name, _, host = resource[5:].lstrip("@").rpartition("@")
        if host.lower() == documents.site_host(config):
            account = directory.by_name.get(name.lower())
    else:
        account = directory.by_id.get(resource) or next((a for a in directory.all() if a.url == resource), None)
    if account is None:
        raise NotFound("no such account on this site")
    return _json(documents.webfinger(config, account), documents.JRD, cache=300)


@bp.get("/.well-known/nodeinfo")
def nodeinfo_links() -> Response:
    return _json(documents.nodeinfo_links(_fediverse().config), "application/json", cache=3600)


@bp.get(urls.NODEINFO)
def nodeinfo() -> Response:
    manifest, directory = _directory()
    document = documents.nodeinfo(_fediverse().config, len(directory.all()), manifest.post_count)
    return _json(document, documents.NODEINFO_PROFILE, cache=1800)


@bp.get(urls.actor_path(None), defaults={"slug": None})
@bp.get(urls.actor_path("<slug>"))
def actor(slug: str | None) -> Response:
    account = _account(slug)
    if not wants_activity(request.headers.get("Accept")) and _prefers_html():
        return _found(account.url)
    _, public = _fediverse().keys().get(account.path)
    return _json(documents.actor(_fediverse().config, account, public))


@bp.get(urls.actor_path(None) + "/followers", defaults={"slug": None})
@bp.get(urls.actor_path("<slug>") + "/followers")
def followers(slug: str | None) -> Response:
    from feeds.fediverse.store import follower_count

    account = _account(slug)
    return _json(documents.followers(account, follower_count(_fediverse().database(), account.path)))


@bp.get(urls.actor_path(None) + "/outbox", defaults={"slug": None, "page": None})
@bp.get(urls.actor_path(None) + "/outbox/page/<int:page>", defaults={"slug": None})
@bp.get(urls.actor_path("<slug>") + "/outbox", defaults={"page": None})
@bp.get(urls.actor_path("<slug>") + "/outbox/page/<int:page>")
def outbox(slug: str | None, page: int | None) -> Response:
    account = _account(slug)
    return _document(ACTIVITY + urls.outbox_path(account.path, page))


@bp.get(urls.AP + "/objects/<name>")
def article(name: str) -> Response:
    return _document(ACTIVITY + urls.AP + "/objects/" + name)


def _document(path: str) -> Response:
    if not routes._listed(routes._manifest(), path):
        raise NotFound("no such document")
    response = send(routes._item(path), vary="Accept, Accept-Encoding")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.post(urls.SHARED_INBOX, defaults={"slug": None, "shared": True})
@bp.post(urls.actor_path(None) + "/inbox", defaults={"slug": None, "shared": False})
@bp.post(urls.actor_path("<slug>") + "/inbox", defaults={"shared": False})
def inbox(slug: str | None, shared: bool) -> Response:
    if (request.content_length or 0) > limits.MAX_INBOX_BODY:
        raise RequestEntityTooLarge(f"an activity is at most {limits.MAX_INBOX_BODY} bytes")
    body = request.stream.read(limits.MAX_INBOX_BODY + 1)
    if len(body) > limits.MAX_INBOX_BODY:
        raise RequestEntityTooLarge(f"an activity is at most {limits.MAX_INBOX_BODY} bytes")
    _, directory = _directory()
    account = None if shared else directory.get(slug)
    if not shared and account is None:
        raise NotFound(f"no tag {slug!r}")
    config = _fediverse().config
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = documents.site_host(config)  # what the sender signed: the host of the inbox URL we published
    incoming = Incoming(request.method, _request_target(config.site_url), headers, body)
    outcome = _fediverse().inbox().receive(incoming, directory, account)
    _fediverse().wake()
    response = Response(outcome.message + "\n", status=outcome.status, content_type="text/plain; charset=utf-8")
    if outcome.retry_after is not None:
        response.headers["Retry-After"] = str(outcome.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _request_target(site_url: str) -> str:
    """The path and query the sender signed: the public one (a proxy may have stripped ``site_url``'s own path)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        raw = quote(request.environ.get("PATH_INFO", ""), safe="/!$&'()*+,;=:@%")
        if request.environ.get("QUERY_STRING"):
            raw += "?" + request.environ["QUERY_STRING"]
    prefix = urlsplit(site_url).path.rstrip("/")
    return raw if not prefix or raw.startswith(prefix + "/") else prefix + raw


def _prefers_html() -> bool:
    return bool(request.accept_mimetypes.accept_html)


def _found(url: str) -> Response:
    return current_app.make_response(redirect(url, 302))


def init_app(app: Flask, service: Fediverse) -> None:
    """Register the fediverse's routes (the post route answers the ActivityStreams form of post URLs)."""
    app.extensions["feeds.fediverse"] = service
    app.register_blueprint(bp)
