"""Answer with a stored body: gzip when accepted, 304 when the client's copy is current, bytes from the file."""

from __future__ import annotations

from flask import Response, current_app, request
from werkzeug.wsgi import wrap_file

from feeds.service.runtime import Runtime
from feeds.snapshot.manifest import Item


def send(item: Item, vary: str = "Accept-Encoding") -> Response:
    """Answer with ``item``'s body (sent from its file: sendfile where the server offers ``wsgi.file_wrapper``)."""
    runtime: Runtime = current_app.extensions["feeds"]
    gzipped = request.accept_encodings["gzip"] > 0  # q=0 means "not gzip"
    headers = {
        "ETag": item.gzip_etag if gzipped else item.etag,
        "Cache-Control": f"public, max-age={runtime.config.scan_interval}",
        "Vary": vary,
    }
    response = Response(status=200, headers=headers, content_type=item.media_type)
    response.last_modified = item.modified
    if not_modified(item):
        response.status_code = 304
        return response
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        response.content_length = item.gzip_size if gzipped else item.size
        return response
    response.response = wrap_file(request.environ, runtime.open(item, gzipped))
    response.direct_passthrough = True
    response.content_length = item.gzip_size if gzipped else item.size
    return response


def not_modified(item: Item) -> bool:
    """Whether the client's copy is current. RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    if request.if_none_match:
        inm = request.if_none_match
        return bool(inm.star_tag or inm.contains_weak(item.etag.strip('"')) or inm.contains_weak(item.gzip_etag.strip('"')))
    since = request.if_modified_since
    return since is not None and item.last_modified <= since.timestamp()
