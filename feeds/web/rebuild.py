"""``POST /-/rebuild``: rescan now, for a git hook or CI; guarded by a bearer token.

The route exists only when ``rebuild_token`` is set. The rescan runs in the
host's builder (``feeds.service.roles``): one at a time, and requests that
arrive meanwhile are coalesced into one more run, which starts after them and
so sees whatever they were sent for.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from feeds.service.runtime import Runtime

bp = Blueprint("rebuild", __name__)


def authorized(header: str | None, token: str) -> bool:
    """Return whether an ``Authorization`` header carries ``Bearer <token>``.

    The comparison takes the same time wherever the first wrong byte is.
    https://www.rfc-editor.org/rfc/rfc6750#section-2.1
    """
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_raw(given.strip()), token.encode("utf-8"))


def _raw(value: str) -> bytes:
    """Return the bytes a header value arrived as (PEP 3333: WSGI decodes them as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _unauthorized() -> Response:
    # No detail: a caller learns neither whether the token was close nor why.
    response = Response("401 Unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
    response.headers["WWW-Authenticate"] = 'Bearer realm="feeds"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/-/rebuild")
def rebuild() -> Response:
    runtime: Runtime = current_app.extensions["feeds"]
    if not authorized(request.headers.get("Authorization"), runtime.config.rebuild_token or ""):
        return _unauthorized()
    data = runtime.rebuild()  # in the host's builder, wherever it runs; coalesced there
    response = jsonify(data)
    response.status_code = 202 if data.get("status") == "queued" else 200 if data.get("status") == "done" else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add ``POST /-/rebuild`` when ``rebuild_token`` is set; otherwise the path is a 404."""
    if app.extensions["feeds"].config.rebuild_token:
        app.register_blueprint(bp)
