"""``POST /-/rebuild``: rescan now, for a git hook or CI; guarded by a bearer token.

The route exists only when ``rebuild_token`` is set. One rebuild runs at a
time; requests that arrive meanwhile are coalesced into one more run, which
starts after them and so sees whatever they were sent for.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, current_app, jsonify, request

bp = Blueprint("rebuild", __name__)


@dataclass
class Coalescer:
    """Run ``job`` for a caller, at most one at a time and one queued.

    ``request()`` runs the job in the caller's thread when idle (looping while
    more requests came in during a run) and returns True; when a run is under
    way it marks one more run as due and returns False at once.
    """

    job: Callable[[], object]
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _running: bool = field(default=False, init=False)
    _again: bool = field(default=False, init=False)
    #: Runs completed so far (failed ones included).
    runs: int = field(default=0, init=False)

    def request(self) -> bool:
        with self._lock:
            if self._running:
                self._again = True
                return False
            self._running = True
        error: Exception | None = None
        while True:
            try:
                self.job()
            except Exception as e:  # the run that is due must still happen; raise afterwards
                error = e
            with self._lock:
                # Decide and release in one step, so a request arriving now is never lost.
                self.runs += 1
                again, self._again = self._again, False
                self._running = again
            if not again:
                break
        if error is not None:
            raise error
        return True


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
    state = current_app.extensions["feeds"]
    if not authorized(request.headers.get("Authorization"), state.config.rebuild_token or ""):
        return _unauthorized()
    coalescer: Coalescer = current_app.extensions["feeds.rebuild"]
    before = state.store.current
    ran = coalescer.request()
    current = state.store.current
    data = {
        "status": "done" if ran else "queued",
        "changed": current is not before,
        "version": current.version if current else None,
    }
    response = jsonify(data)
    response.status_code = 200 if ran else 202
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Add ``POST /-/rebuild`` when ``rebuild_token`` is set; otherwise the path is a 404."""
    state = app.extensions["feeds"]
    if not state.config.rebuild_token:
        return
    app.extensions["feeds.rebuild"] = Coalescer(lambda: state.builder.rescan())
    app.register_blueprint(bp)
