"""``POST /-/rebuild``: rescan now, for a git hook or CI; guarded by a bearer token.

The route exists only when ``rebuild_token`` is set. The rescan runs in the
host's builder (``feeds.service.roles``): one at a time, and requests that
arrive meanwhile are coalesced into one more run, which starts after them and
so sees whatever they were sent for.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from feeds import log
from feeds.gitremote import GitRemote
from feeds.limits import MAX_DELIVERY_ID, MAX_WEBHOOK_BODY
from feeds.service.deliveries import NAME as DELIVERIES
from feeds.service.deliveries import Deliveries
from feeds.service.runtime import Runtime
from feeds.web import hooks

bp = Blueprint("rebuild", __name__)


def authorized(header: str | None, token: str) -> bool:
    """Return whether an ``Authorization`` header carries ``Bearer <token>``.

    The comparison takes the same time wherever the first wrong byte is.
    https://www.rfc-editor.org/rfc/rfc6750#section-2.1
    """
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(hooks.raw(given.strip()), token.encode("utf-8"))


def _unauthorized() -> Response:
    # No detail: a caller learns neither whether the token was close nor why.
    response = Response("401 Unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
    response.headers["WWW-Authenticate"] = 'Bearer realm="feeds"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/-/rebuild")
def rebuild() -> Response:
    runtime: Runtime = current_app.extensions["feeds"]
    config = runtime.config
    force = request.args.get("force") == "1"  # accept a force-pushed content branch
    if config.webhook_secret and request.content_length is not None and request.content_length <= MAX_WEBHOOK_BODY:
        body = request.get_data(cache=True)
        headers = {name: value for name, value in request.headers.items()}
        provider = hooks.verify_signature(headers, body, config.webhook_secret)
        if provider is not None:
            # A signed push to the content branch rescans (and fetches) at once; any other signed event (a ping,
            # a push to another branch) is acknowledged without one.
            branch = config.content_dir.branch if isinstance(config.content_dir, GitRemote) else None
            wanted = f"refs/heads/{branch or config.content_branch}"
            if hooks.verify_push(headers, body, config.webhook_secret) is None or hooks.push_ref(provider, body) not in (None, wanted):
                return _answer({"status": "ignored", "provider": provider}, 200)
            return _pushed(runtime, provider, hooks.delivery_keys(provider, headers, body))
    if not config.rebuild_token or not authorized(request.headers.get("Authorization"), config.rebuild_token):
        return _unauthorized()
    return _rebuilt(runtime, force)


def _pushed(runtime: Runtime, provider: str, keys: list[str]) -> Response:
    """Rescan for a signed push, unless this very delivery was acted on within the window (a replay: no rescan)."""
    deliveries = Deliveries(runtime.folder / "state" / DELIVERIES)
    if not deliveries.claim(keys):
        log.event("webhook_replay", provider=provider, delivery=keys[-1].rpartition(":")[2][:MAX_DELIVERY_ID])
        return _answer({"status": "duplicate", "provider": provider}, 200)
    response = _rebuilt(runtime, force=False)
    if response.status_code >= 500:  # not acted on: a redelivery must be
        deliveries.release(keys)
    return response


def _rebuilt(runtime: Runtime, force: bool) -> Response:
    answer = runtime.rebuild(force)  # in the host's builder, wherever it runs; coalesced there
    data: dict[str, object] = {"status": answer.status, "changed": answer.changed, "version": answer.version}
    if answer.error is not None:
        data["error"] = answer.error
    return _answer(data, 202 if answer.status == "queued" else 200 if answer.status == "done" else 503)


def _answer(data: dict[str, object], status: int) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add ``POST /-/rebuild`` when ``rebuild_token`` or ``webhook_secret`` is set; otherwise the path is a 404."""
    config = app.extensions["feeds"].config
    if config.rebuild_token or config.webhook_secret:
        app.register_blueprint(bp)
