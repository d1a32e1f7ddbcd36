"""Answer with a stored body: gzip when accepted, 304 when the client's copy is current, bytes from the file.

Werkzeug's pieces do the parsing and the framing: ``request.if_none_match`` (its ETags and weak
comparison), ``request.if_modified_since``, ``request.accept_encodings`` (q-values), ``Response.last_modified``,
``wrap_file`` (the server's ``wsgi.file_wrapper``, so sendfile under gunicorn), and ``Response`` itself,
which sends no body for a 304 or a HEAD and drops a 304's entity headers.

``Response.make_conditional`` is not used. Compared request by request with this module (werkzeug 3.1,
docs/conditional-requests.md; tests/test_conditional.py pins the first three points), it would change what clients get:

- it adds a ``Date`` header; the replay cache (``fastpath.py``) would then replay it stale, and granian
  keeps an app's ``Date`` instead of writing its own (gunicorn and ``feeds serve`` would send two);
- it compares one ETag, while each document here has two representations with distinct ETags (RFC 9110
  §8.8.3: the gzip one ends ``-gz"``) and a client holding either one's ETag is answered 304;
- it evaluates If-Match: ``If-Match: "other"`` becomes a 412 that still carries the body, and a matching
  If-Match turns an If-None-Match 304 into a 200;
- it works on a response that already has its body, so a 304 or a HEAD would open the body's file for
  nothing; here the answer is decided first and only a 200 to a GET opens it.

What is evaluated, as RFC 9110 §13.2.2 orders it: If-None-Match (weak comparison, ``*``), and
If-Modified-Since only when If-None-Match is absent. Range, If-Range, If-Match and If-Unmodified-Since are
not: every 200 is the whole representation.
https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
"""

from __future__ import annotations

from flask import Response, current_app, request
from werkzeug.wsgi import wrap_file

from feeds.service.runtime import Runtime
from feeds.snapshot.manifest import Item


def send(item: Item, vary: str = "Accept-Encoding", max_age: int | None = None) -> Response:
    """Answer with ``item``'s body (sent from its file: sendfile where the server offers ``wsgi.file_wrapper``)."""
    runtime: Runtime = current_app.extensions["feeds"]
    gzipped = request.accept_encodings["gzip"] > 0  # q=0 means "not gzip"
    headers = {
        "ETag": item.gzip_etag if gzipped else item.etag,
        "Cache-Control": f"public, max-age={runtime.config.scan_interval if max_age is None else max_age}",
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
