"""``/media/<path>``: the media folder's files, with byte ranges (RFC 9110 §14) and conditional requests (§13).

Podcast apps fetch episodes in ranges (Apple requires byte-range support) and resume
downloads with ``If-Range``. What is served is what the published snapshot lists: a file
added since then is a 404 until the next scan, and a file changed in place since then is
served as it is now but without validators (its ETag would lie) until the next scan hashes it.
Preconditions are evaluated in §13.2.2's order: If-Match, If-Unmodified-Since, If-None-Match,
If-Modified-Since, then If-Range and Range (GET only).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.http import http_date
from werkzeug.wsgi import wrap_file

from feeds.service.runtime import Runtime
from feeds.snapshot.media import file_of, same_version
from feeds.web import ranges
from feeds.web.routes import _manifest as published

bp = Blueprint("media", __name__)
_CHUNK = 1 << 16
#: Media files are the content author's (an HTML transcript, an SVG…), served on the site's origin: no scripts, no plugins.
_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


@bp.route("/media/<path:name>", methods=["GET", "HEAD"])
def media(name: str) -> Response:
    manifest = published()
    item = manifest.media.get("/media/" + name)
    if item is None:
        raise NotFound("no such media file")
    try:
        f = file_of(manifest, item).open("rb")
    except OSError as e:
        raise NotFound("no such media file (removed since the last scan)") from e
    try:
        return _answer(item.media_type, f, item.etag, item.modified, item.size) if same_version(item, f) else _changed(item.media_type, f)
    except BaseException:
        f.close()
        raise


def _changed(media_type: str, f: BinaryIO) -> Response:
    """The file changed since the snapshot hashed it: serve it as it is, with no validator to lie with."""
    return _answer(media_type, f, None, None, os.fstat(f.fileno()).st_size)


def _answer(media_type: str, f: BinaryIO, etag: str | None, modified: datetime | None, size: int) -> Response:
    runtime: Runtime = current_app.extensions["feeds"]
    validated = etag is not None
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": f"public, max-age={runtime.config.scan_interval}" if validated else "no-cache",
        "Content-Security-Policy": _POLICY,
    }
    if etag is not None:
        headers["ETag"] = etag
    response = Response(status=200, headers=headers, content_type=media_type)
    if modified is not None:  # (None would make werkzeug write the time of the request)
        response.last_modified = modified
    status = _preconditions(etag, modified)
    if status is not None:
        f.close()
        response.status_code = status
        return response
    spans = _ranges(etag, modified, size)
    if spans is None:  # the whole file
        response.content_length = size
        if request.method == "HEAD":
            f.close()
            return response
        response.response = wrap_file(request.environ, f)  # sendfile where the server offers it
        response.direct_passthrough = True
        return response
    if not spans:
        f.close()
        response.status_code = 416
        response.headers["Content-Range"] = f"bytes */{size}"
        response.content_type = "text/plain; charset=utf-8"
        response.set_data(f"416 Range Not Satisfiable: the file has {size} bytes\n")
        return response
    response.status_code = 206
    if len(spans) == 1:
        response.headers["Content-Range"] = spans[0].content_range(size)
        response.content_length = spans[0].length
        response.response = _read(f, spans)
    else:
        boundary = secrets.token_hex(16)  # random, so that no part's bytes can hold it by chance
        response.content_type = f"multipart/byteranges; boundary={boundary}"
        response.content_length = ranges.multipart_length(boundary, media_type, spans, size)
        response.response = _read(f, spans, boundary, media_type, size)
    response.direct_passthrough = True
    return response


def _preconditions(etag: str | None, modified: datetime | None) -> int | None:
    """412 or 304 when a precondition says so (RFC 9110 §13.2.2), else None."""
    if request.if_match:
        if etag is None or not (request.if_match.star_tag or request.if_match.contains(etag.strip('"'))):  # strong comparison
            return 412
    elif request.if_unmodified_since is not None and (modified is None or modified > request.if_unmodified_since):
        return 412
    if request.if_none_match:
        inm = request.if_none_match
        if etag is not None and (inm.star_tag or inm.contains_weak(etag.strip('"'))):
            return 304
    elif modified is not None and request.if_modified_since is not None and modified <= request.if_modified_since:
        return 304
    return None


def _ranges(etag: str | None, modified: datetime | None, size: int) -> list[ranges.Span] | None:
    """The spans to send; None for the whole file (no Range, or one to ignore); [] for 416."""
    header = request.headers.get("Range")
    if header is None or request.method != "GET" or size == 0:  # §14.2: ranges are defined for GET only
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and (etag is None or not ranges.if_range_holds(if_range, etag, http_date(modified) if modified else None)):
        return None  # §13.1.5: the client's copy is another version: send the whole of this one
    specs = ranges.parse(header)
    if specs is None:
        return None
    try:
        return ranges.resolve(specs, size)
    except ranges.Unsatisfiable:
        return []


def _read(f: BinaryIO, spans: list[ranges.Span], boundary: str | None = None, media_type: str = "", size: int = 0) -> Iterator[bytes]:
    """The bytes of ``spans``, one chunk at a time; framed as multipart/byteranges when there is a boundary."""
    try:
        for span in spans:
            if boundary is not None:
                yield ranges.part_header(boundary, media_type, span, size)
            f.seek(span.first)
            left = span.length
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:  # the file shrank under us: the client sees a short body and retries
                    return
                left -= len(chunk)
                yield chunk
        if boundary is not None:
            yield ranges.closing(boundary)
    finally:
        f.close()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
