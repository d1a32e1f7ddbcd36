"""The HTTP edge: look bodies up in the current snapshot and answer conditionally."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, ServiceUnavailable

from feeds.render.formats import FORMATS
from feeds.snapshot.build import Body, Snapshot, SnapshotStore
from feeds.web.fastpath import ReplayCache
from feeds.web.negotiation import link_header, prefers_html

bp = Blueprint("feeds", __name__)
_PAGE = re.compile(r"[0-9]{1,9}")
_FEED_FILES = "any(" + ", ".join(f'"{name}"' for name in FORMATS) + ")"


def _store() -> SnapshotStore:
    store: SnapshotStore = current_app.extensions["feeds"].store
    return store


def _snapshot() -> Snapshot:
    snapshot = _store().current
    if snapshot is None:
        raise ServiceUnavailable("no feeds built yet")
    return snapshot


@bp.get("/feed.xml", defaults={"prefix": "/", "filename": "feed.xml"})
@bp.get("/atom.xml", defaults={"prefix": "/", "filename": "atom.xml"})
@bp.get("/feed.json", defaults={"prefix": "/", "filename": "feed.json"})
@bp.get(f"/tags/<slug>/<{_FEED_FILES}:filename>")
def feed(filename: str, prefix: str | None = None, slug: str | None = None) -> Response:
    path = (prefix or f"/tags/{slug}/") + filename
    snapshot = _snapshot()
    last_page = snapshot.pages.get(path)
    if last_page is None:
        raise NotFound(f"no tag {slug!r}")
    page = _page_number(last_page)
    body = snapshot.find(path, page)
    if body is None:  # the snapshot always holds every page it counts
        raise NotFound(f"page {page} does not exist")
    config = current_app.extensions["feeds"].config
    if prefers_html(request.headers.get("Accept")):
        # A person in a browser: the styled HTML view of the same page, its own ETag.
        body = snapshot.view(path, page) or body
    self_url = config.site_url + path + (f"?page={page}" if page > 1 else "")
    response = send(body, vary="Accept, Accept-Encoding")
    response.headers["Link"] = link_header(self_url, config.websub_hubs)
    return response


@bp.get("/", defaults={"path": "/"})
@bp.get("/tags/", defaults={"path": "/tags/"})
@bp.get("/feeds.opml", defaults={"path": "/feeds.opml"})
@bp.get("/feeds-atom.opml", defaults={"path": "/feeds-atom.opml"})
@bp.get("/feeds-json.opml", defaults={"path": "/feeds-json.opml"})
@bp.get("/tags/<slug>/")
def page(path: str | None = None, slug: str | None = None) -> Response:
    body = _snapshot().find(path or f"/tags/{slug}/")
    if body is None:
        raise NotFound(f"no tag {slug!r}")
    return send(body)


@bp.get("/healthz")
def healthz() -> Response:
    store = _store()
    snapshot = store.current
    data: dict[str, Any] = {
        # Degraded: feeds are stale (scan or rebuild failed) or a file has an error
        # (including a post served from its last good version); 200 all the same.
        "status": "ok" if snapshot is not None and store.error is None and not _has_errors(snapshot) else "degraded",
        "version": snapshot.version if snapshot else None,
        "built_at": snapshot.built_at.isoformat() if snapshot else None,
        "last_scan": store.last_scan.isoformat() if store.last_scan else None,
        "error": store.error,
        "posts": snapshot.post_count if snapshot else 0,
        "tags": len(snapshot.tags) if snapshot else 0,
        "problems": [str(p) for p in snapshot.problems] if snapshot else [],
    }
    data.update(current_app.extensions["feeds"].health())  # pid, snapshot age; builder role under gunicorn
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    if snapshot is None:
        response.status_code = 503
    return response


def _has_errors(snapshot: Snapshot) -> bool:
    return any(p.severity == "error" for p in snapshot.problems)


def _page_number(last_page: int) -> int:
    raw = request.args.get("page")
    if raw is None:
        return 1
    if not _PAGE.fullmatch(raw):
        if raw.isdigit():
            raise NotFound(f"page {raw} does not exist (last page is {last_page})")
        raise BadRequest("page must be a whole number from 1")
    number = int(raw)
    if number < 1:
        raise BadRequest("page must be a whole number from 1")
    if number > last_page:
        raise NotFound(f"page {number} does not exist (last page is {last_page})")
    return number


def send(body: Body, vary: str = "Accept-Encoding") -> Response:
    """Answer with ``body``: gzip when accepted, 304 when the client's copy is current."""
    gzipped = request.accept_encodings["gzip"] > 0  # q=0 means "not gzip"
    etag = body.gzip_etag if gzipped else body.etag
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={current_app.extensions['feeds'].config.scan_interval}",
        "Vary": vary,
    }
    response = Response(status=200, headers=headers, content_type=body.media_type)
    if body.last_modified is not None:
        response.last_modified = body.last_modified
    if _not_modified(body):
        response.status_code = 304
        return response
    response.set_data(body.gzip if gzipped else body.data)
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return response


def _not_modified(body: Body) -> bool:
    # RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it.
    if request.if_none_match:
        inm = request.if_none_match
        return bool(inm.star_tag or inm.contains_weak(body.etag.strip('"')) or inm.contains_weak(body.gzip_etag.strip('"')))
    since = request.if_modified_since
    return since is not None and body.last_modified is not None and body.last_modified <= since


def _plain_error(error: HTTPException) -> Response:
    code = error.code or 500
    response = Response(f"{code} {error.name}: {error.description}\n", status=code, content_type="text/plain; charset=utf-8")
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response


def _nosniff(response: Response) -> Response:
    # Every response, errors and automatic OPTIONS answers included.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    """Register the routes and plain-text error pages."""
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _plain_error)
    app.after_request(_nosniff)
    # Repeated feed requests are answered from the snapshot's replay cache, skipping Flask.
    app.wsgi_app = ReplayCache(app.wsgi_app, lambda: app.extensions["feeds"].store.current)  # type: ignore[method-assign]
