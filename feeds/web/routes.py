"""The HTTP edge: find the document in the served manifest and answer conditionally from its file."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES

from feeds import urls
from feeds.limits import FIRST_WAIT
from feeds.render.formats import FORMATS
from feeds.render.plan import VIEWS, view_path
from feeds.service.health import health
from feeds.service.runtime import Runtime
from feeds.snapshot.manifest import Item, Manifest
from feeds.web.conditional import send
from feeds.web.negotiation import link_header, prefers_html

bp = Blueprint("feeds", __name__)
_PAGE = re.compile(r"[0-9]{1,9}")
_PATH_PAGE = re.compile(r"[1-9][0-9]{0,8}")
_FEED_FILES = "any(" + ", ".join(f'"{name}"' for name in FORMATS) + ")"


def _runtime() -> Runtime:
    runtime: Runtime = current_app.extensions["feeds"]
    return runtime


def _manifest() -> Manifest:
    runtime = _runtime()
    if runtime.current is None:
        runtime.follow()  # published a moment ago: do not wait for this worker's watcher to look
    # On a host's very first start, wait for the first publish (page 1s come first: seconds even for 10k
    # posts) rather than answer 503; once the builder has failed to publish one, there is nothing to wait for.
    if runtime.current is None and (_failed() or not runtime.wait_for(_published_or_failed, FIRST_WAIT)):
        raise _unavailable("no feeds published yet")
    if runtime.current is None:
        raise _unavailable("no feeds published yet")
    return runtime.current


def _failed() -> bool:
    """The builder's last scan or publish failed (the builder's scan may have ended before its first publish did)."""
    return _runtime().builder_status().error is not None


def _published_or_failed(manifest: Manifest | None) -> bool:
    return manifest is not None or _failed()


def _unavailable(message: str) -> ServiceUnavailable:
    error = ServiceUnavailable(message)
    error.retry_after = 2
    return error


@bp.get("/feed.xml", defaults={"prefix": "/", "filename": "feed.xml"})
@bp.get("/atom.xml", defaults={"prefix": "/", "filename": "atom.xml"})
@bp.get("/feed.json", defaults={"prefix": "/", "filename": "feed.json"})
@bp.get(f"/page/<page>/<{_FEED_FILES}:filename>", defaults={"prefix": "/"})
@bp.get(f"/tags/<slug>/<{_FEED_FILES}:filename>")
@bp.get(f"/tags/<slug>/page/<page>/<{_FEED_FILES}:filename>")
def feed(filename: str, prefix: str | None = None, slug: str | None = None, page: str | None = None) -> Response:
    prefix = prefix or urls.tag_prefix(slug or "")
    manifest = _manifest()
    if not _has(manifest, urls.feed_path(prefix, filename)):
        raise NotFound(f"no tag {slug!r}")
    if page is not None:
        number = int(page) if _PATH_PAGE.fullmatch(page) else 0
        if number == 1:
            return _moved(urls.feed_path(prefix, filename))
        if number < 2:
            raise NotFound(f"page {page} does not exist")
    else:
        asked = _query_page(manifest, prefix, filename)
        if asked is not None:  # the ?page=N form of older links: to the page's own URL
            return _moved(urls.feed_path(prefix, filename, asked))
        number = 1
    path = urls.feed_path(prefix, filename, number)
    if not _has(manifest, path):
        raise NotFound(f"page {number} does not exist (last page is {_last_page(manifest, prefix, filename)})")
    if prefers_html(request.headers.get("Accept")):
        # A person in a browser: the styled HTML view of the same page, its own ETag.
        path = view_path(prefix, number)
    response = send(_item(path), vary="Accept, Accept-Encoding")
    config = _runtime().config
    response.headers["Link"] = link_header(urls.absolute(config.site_url, urls.feed_path(prefix, filename, number)), config.websub_hubs)
    return response


@bp.get("/", defaults={"path": "/"})
@bp.get("/tags/", defaults={"path": "/tags/"})
@bp.get("/feeds.opml", defaults={"path": "/feeds.opml"})
@bp.get("/feeds-atom.opml", defaults={"path": "/feeds-atom.opml"})
@bp.get("/feeds-json.opml", defaults={"path": "/feeds-json.opml"})
@bp.get("/tags/<slug>/")
def page(path: str | None = None, slug: str | None = None) -> Response:
    path = path or urls.tag_prefix(slug or "")
    if not _has(_manifest(), path):
        raise NotFound(f"no tag {slug!r}")
    return send(_item(path))


@bp.get("/healthz")
def healthz() -> Response:
    record = health(_runtime())
    database = current_app.extensions.get("feeds.database")
    response = jsonify({**record.fields, "database": database.status()} if database is not None else record.fields)
    response.headers["Cache-Control"] = "no-store"
    if not record.serving:
        response.status_code = 503
    return response


def _has(manifest: Manifest, path: str) -> bool:
    return (path in manifest.items or path in manifest.pending) and not path.startswith(VIEWS)


def _item(path: str) -> Item:
    item = _runtime().item(path)
    if item is None:  # listed, but the builder could not render it in time (it is going away, or overloaded)
        raise _unavailable("this page is being rendered; try again in a moment")
    return item


def _query_page(manifest: Manifest, prefix: str, filename: str) -> int | None:
    """The page a ``?page=N`` query asks for (None: no query); 400 for a non-number, 404 past the last page."""
    raw = request.args.get("page")
    if raw is None:
        return None
    if not _PAGE.fullmatch(raw):
        if raw.isdigit():
            raise NotFound(f"page {raw} does not exist (last page is {_last_page(manifest, prefix, filename)})")
        raise BadRequest("page must be a whole number from 1")
    number = int(raw)
    if number < 1:
        raise BadRequest("page must be a whole number from 1")
    if not _has(manifest, urls.feed_path(prefix, filename, number)):
        raise NotFound(f"page {number} does not exist (last page is {_last_page(manifest, prefix, filename)})")
    return number


def _last_page(manifest: Manifest, prefix: str, filename: str) -> int:
    low, high = 1, 2
    while _has(manifest, urls.feed_path(prefix, filename, high)):
        low, high = high, high * 2
    while high - low > 1:  # the last page that exists: pages are numbered without gaps
        middle = (low + high) // 2
        low, high = (middle, high) if _has(manifest, urls.feed_path(prefix, filename, middle)) else (low, middle)
    return low


def _moved(path: str) -> Response:
    response = current_app.make_response(redirect(urls.absolute(_runtime().config.site_url, path), 301))
    response.headers["Cache-Control"] = f"public, max-age={_runtime().config.scan_interval}"
    return response


def _plain_error(error: HTTPException) -> Response:
    code = error.code or 500
    response = Response(f"{code} {error.name}: {error.description}\n", status=code, content_type="text/plain; charset=utf-8")
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    retry = getattr(error, "retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
        response.headers["Cache-Control"] = "no-store"
    return response


def _nosniff(response: Response) -> Response:
    # Every response, errors and automatic OPTIONS answers included.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _public_location(response: Response) -> Response:
    # Werkzeug's own redirects (/tags/go → /tags/go/, merged slashes) name the host and scheme the
    # request came with, in the Location and in the HTML body: behind a proxy that is the app's inner
    # address, and any client can send any Host (http://evil.com/tags/go/). Every URL we hand out is site_url's.
    location = response.headers.get("Location")
    if response.status_code not in (301, 302, 303, 307, 308) or not location:
        return response
    if location.startswith(request.host_url):
        location = f"{_runtime().config.site_url}/{location[len(request.host_url) :]}"  # already a URI
        response.headers["Location"] = location
    # A short plain body naming the same URL, like every other answer of ours that is not a document.
    response.set_data(f"{response.status_code} {HTTP_STATUS_CODES[response.status_code]}: {location}\n")
    response.content_type = "text/plain; charset=utf-8"
    return response


def init_app(app: Flask) -> None:
    """Register the routes and plain-text error pages."""
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _plain_error)
    app.after_request(_nosniff)
    app.after_request(_public_location)
