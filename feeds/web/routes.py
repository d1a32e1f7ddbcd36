"""The HTTP edge: find the document in the served manifest and answer conditionally from its file."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound, ServiceUnavailable
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import PathConverter

from feeds import urls
from feeds.limits import FIRST_WAIT
from feeds.options import final_target
from feeds.render.formats import FORMATS
from feeds.render.plan import ACTIVITY, VIEWS, cache_max_age, view_path
from feeds.service.errors import Unavailable
from feeds.service.health import health
from feeds.service.runtime import Runtime
from feeds.snapshot.manifest import Item, Manifest
from feeds.web.conditional import send
from feeds.web.negotiation import link_header, prefers_html, wants_activity

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


def _unavailable(message: str, retry_after: int = 2) -> ServiceUnavailable:
    error = ServiceUnavailable(message)
    error.retry_after = retry_after
    return error


_KINDS = "any(" + ", ".join(f'"{name}"' for name in urls.KINDS.values()) + ")"


@bp.get(f"/<{_FEED_FILES}:filename>", defaults={"prefix": urls.SITE})
@bp.get(f"/archive/<number>/<{_FEED_FILES}:filename>", defaults={"prefix": urls.SITE})
@bp.get(f"/page/<page>/<{_FEED_FILES}:filename>", defaults={"prefix": urls.SITE})
@bp.get(f"/<{_KINDS}:kind>/<slug>/<{_FEED_FILES}:filename>")
@bp.get(f"/<{_KINDS}:kind>/<slug>/archive/<number>/<{_FEED_FILES}:filename>")
@bp.get(f"/<{_KINDS}:kind>/<slug>/page/<page>/<{_FEED_FILES}:filename>")
def feed(
    filename: str, prefix: str | None = None, kind: str = "", slug: str = "", number: str | None = None, page: str | None = None
) -> Response:
    prefix = prefix or f"/{kind}/{slug}/"
    manifest = _manifest()
    current = urls.feed_path(prefix, filename)
    if not _has(manifest, current):
        raise NotFound(f"no feed {prefix}")
    archive: int | None = None
    if number is not None:
        archive = int(number) if _PATH_PAGE.fullmatch(number) else 0
        if not _has(manifest, urls.feed_path(prefix, filename, archive)):
            raise NotFound(f"archive {number} does not exist")
    elif page is not None:
        return _old_page(manifest, prefix, filename, int(page) if _PATH_PAGE.fullmatch(page) else 0)
    else:
        asked = _query_page(request.args.get("page"))
        if asked is not None:  # the ?page=N form of older links: where that page's posts are now
            return _old_page(manifest, prefix, filename, asked)
    path = urls.feed_path(prefix, filename, archive)
    max_age = cache_max_age(path, lambda p: _has(manifest, p), _runtime().config.scan_interval)
    if prefers_html(request.headers.get("Accept")):
        # A person in a browser: the styled HTML view of the same document, its own ETag.
        path = view_path(prefix, archive)
    response = send(_item(path), vary="Accept, Accept-Encoding", max_age=max_age)
    config = _runtime().config
    response.headers["Link"] = link_header(urls.absolute(config.site_url, urls.feed_path(prefix, filename, archive)), config.websub_hubs)
    return response


def _old_page(manifest: Manifest, prefix: str, filename: str, number: int) -> Response:
    """Answer an old page URL (pages were numbered from the newest): to the archive holding the newest post it showed.

    Page 1 is the current feed for good (301). Any other page's posts move as posts are added, so
    that answer is a 302 to the archive holding the page's newest post (or to the current feed while
    that post is newer than every full archive); past the last page, 404.
    """
    if number < 1:
        raise NotFound(f"page {number} does not exist")
    if number == 1:
        return _moved(urls.feed_path(prefix, filename))
    count, size = manifest.scopes.get(prefix, (0, 1))
    newest = (number - 1) * size  # the index, newest first, of the newest post that page showed
    if newest >= count:
        raise NotFound(f"page {number} does not exist (the feed has {count} posts)")
    archive = (count - 1 - newest) // size + 1
    return _moved(urls.feed_path(prefix, filename, archive if archive <= count // size else None), 302)


@bp.get("/", defaults={"path": "/"})
@bp.get("/feeds.opml", defaults={"path": "/feeds.opml"})
@bp.get("/feeds-atom.opml", defaults={"path": "/feeds-atom.opml"})
@bp.get("/feeds-json.opml", defaults={"path": "/feeds-json.opml"})
@bp.get(f"/<{_KINDS}:kind>/")
@bp.get(f"/<{_KINDS}:kind>/<slug>/")
def page(path: str | None = None, kind: str = "", slug: str | None = None) -> Response:
    path = path or (f"/{kind}/{slug}/" if slug is not None else f"/{kind}/")
    if not _has(_manifest(), path):
        raise NotFound(f"no page {path}")
    return send(_item(path))


@bp.get("/<post_path:rest>")
def post(rest: str) -> Response:
    """A post's page at its own URL (``/posts/<slug>/``), and any other document of the snapshot at its path.

    With ``fediverse`` on, the same URL answers a client that asks for ActivityStreams (Mastodon's search,
    given a pasted post URL) with the post's Article, stored under ``/_activity`` + the post's path: one
    route for every ``permalink`` pattern, negotiated on ``Accept`` the way feeds choose their browser view.
    """
    path = request.path
    if "//" in path:  # what Werkzeug's merge_slashes answers for every other rule
        return _moved(re.sub("/+", "/", path), 308)
    manifest = _manifest()
    negotiated = _runtime().config.fediverse
    if negotiated and wants_activity(request.headers.get("Accept")) and _listed(manifest, ACTIVITY + path):
        response = send(_item(ACTIVITY + path), vary="Accept, Accept-Encoding")
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    if not _has(manifest, path):
        if not path.endswith("/") and _has(manifest, path + "/"):  # /tags/go -> /tags/go/, as Werkzeug answers without a catch-all
            return _moved(path + "/", 308)
        raise NotFound("no such page")
    return send(_item(path), vary="Accept, Accept-Encoding" if negotiated else "Accept-Encoding")


@bp.get("/healthz")
def healthz() -> Response:
    record = health(_runtime())
    fields = dict(record.fields)
    for name in ("database", "fediverse"):
        service = current_app.extensions.get(f"feeds.{name}")
        if service is not None:
            fields[name] = service.status()
    response = jsonify(fields)
    response.headers["Cache-Control"] = "no-store"
    if not record.serving:
        response.status_code = 503
    return response


def _has(manifest: Manifest, path: str) -> bool:
    return _listed(manifest, path) and not path.startswith((VIEWS, ACTIVITY))


def _listed(manifest: Manifest, path: str) -> bool:
    """Whether the snapshot has ``path``, rendered or pending (hidden paths included: the caller chose it)."""
    return path in manifest.items or path in manifest.pending


def _item(path: str) -> Item:
    item = _runtime().item(path)
    if item is None:  # listed, but the builder could not render it in time (it is going away, or overloaded)
        raise _unavailable("this page is being rendered; try again in a moment")
    return item


def _query_page(raw: str | None) -> int | None:
    """The page a ``?page=N`` query asks for (None: no query); 400 for a non-number."""
    if raw is None:
        return None
    if not _PAGE.fullmatch(raw):
        if raw.isdigit():
            raise NotFound(f"page {raw} does not exist")
        raise BadRequest("page must be a whole number from 1")
    number = int(raw)
    if number < 1:
        raise BadRequest("page must be a whole number from 1")
    return number


def _moved(path: str, status: int = 301) -> Response:
    response = current_app.make_response(redirect(urls.absolute(_runtime().config.site_url, path), status))
    response.headers["Cache-Control"] = f"public, max-age={_runtime().config.scan_interval}"
    return response


def _plain_error(error: HTTPException) -> Response:
    code = error.code or 500
    if code == 404 and request.path in _redirects():  # a moved or removed feed (not a document: those win)
        return _redirected(request.path)
    response = Response(f"{code} {error.name}: {error.description}\n", status=code, content_type="text/plain; charset=utf-8")
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    retry = getattr(error, "retry_after", None)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
        response.headers["Cache-Control"] = "no-store"
    return response


def _redirects() -> dict[str, str | None]:
    """The ``redirects`` setting by source path (built once per app)."""
    found: dict[str, str | None] | None = current_app.extensions.get("feeds.redirects")
    if found is None:
        found = current_app.extensions["feeds.redirects"] = {r.source: r.target for r in _runtime().config.redirects}
    return found


def _redirected(path: str) -> Response:
    """Answer a path of the ``redirects`` setting: 301 to where it moved (chains followed), or 410 Gone."""
    config = _runtime().config
    target = final_target(_redirects(), path)
    if target is None:
        response = Response(f"410 Gone: {urls.quote_path(path)[:200]} was removed\n", status=410, content_type="text/plain; charset=utf-8")
    else:
        location = urls.absolute_or_as_is(config.site_url, target)
        response = current_app.make_response(redirect(location, 301))
    response.headers["Cache-Control"] = f"public, max-age={config.scan_interval}"
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


class PostPath(PathConverter):
    """Any path but the service's own (``/-/rebuild``, ``/_…``): those keep their 404 and 405 answers."""

    regex = r"(?![-_]/|_)[^/].*?"


def _body_unavailable(error: Unavailable) -> Response:
    # A body gone with a removed snapshot folder, not back yet: never a 500, a moment's 503.
    return _plain_error(_unavailable("this document is being published again; try again in a moment", error.retry_after))


def init_app(app: Flask) -> None:
    """Register the routes and plain-text error pages."""
    app.url_map.converters["post_path"] = PostPath
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _plain_error)
    app.register_error_handler(Unavailable, _body_unavailable)
    app.after_request(_nosniff)
    app.after_request(_public_location)
