"""HTTP never answers 500: hostile paths, queries, headers and methods, sent raw to a real server."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import socket
from collections.abc import Iterator

import pytest

from .conftest import SITE_CONFIG
from .corpus import SAMPLE
from .server import ServerProcess, WsgiServer


@pytest.fixture(scope="module", params=["feeds serve", "gunicorn", "granian"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    if request.param in ("gunicorn", "granian"):
        with WsgiServer(request.param, root / "content", root / "feeds.toml") as production:
            yield production
    else:
        with ServerProcess(root / "content", root / "feeds.toml") as dev:
            yield dev


class Reply:
    def __init__(self, raw: bytes, gunicorn: bool = False) -> None:
        self.gunicorn = gunicorn
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


def raw(server: ServerProcess, target: bytes, method: bytes = b"GET", headers: dict[str, str] | None = None) -> Reply:
    """Send one request byte for byte (no client-side normalising) and read the whole answer."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return Reply(b"".join(chunks), isinstance(server, WsgiServer))


def own_error(reply: Reply) -> bool:
    """Whether the WSGI server itself (gunicorn, granian) refused the request before the app saw it (bad request line, too long).

    Those answers are the server's own short pages, without the app's headers.
    """
    return reply.gunicorn and reply.status in (400, 414, 431) and "x-content-type-options" not in reply.headers


def assert_sane(reply: Reply, what: object) -> None:
    assert 200 <= reply.status < 500, f"{what!r} → {reply.status}"
    if own_error(reply):
        return
    assert reply.headers.get("x-content-type-options") == "nosniff", what
    # Snapshot bodies carry "<sha256[:32]>" ETags (Flask's static files have their own kind).
    if reply.status == 200 and re.fullmatch(r'"[0-9a-f]{32}(-gz)?"', reply.headers.get("etag", "")):
        body = gzip.decompress(reply.body) if reply.headers.get("content-encoding") == "gzip" else reply.body
        expected = '"' + hashlib.sha256(body).hexdigest()[:32] + ('-gz"' if reply.headers.get("content-encoding") == "gzip" else '"')
        assert reply.headers["etag"] == expected, what


HOSTILE_PATHS = [
    b"/tags/..%2f..%2fetc/feed.xml",
    b"/tags/..%2F..%2Fetc%2Fpasswd",
    b"/tags/%2e%2e/%2e%2e/etc/feed.xml",
    b"/tags/../../etc/passwd",
    b"/../../../etc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
    b"/tags/..%5c..%5cetc/feed.xml",
    b"/feed.xml%00",
    b"/feed.xml%00.html",
    b"/tags/go%00/feed.xml",
    b"/%00",
    b"/tags/%00/",
    b"/" + b"a" * 10240,
    b"/tags/" + b"x" * 10240 + b"/feed.xml",
    b"/tags/" + b"%41" * 3000 + b"/",
    "/tags/café/feed.xml".encode(),
    b"/tags/caf%C3%A9/feed.xml",
    b"/tags/%FF%FE/feed.xml",
    b"/tags/\xff\xfe/atom.xml",
    "/tags/💥/".encode(),
    b"/tags/%F0%9F%92%A5/feed.json",
    b"/tags/<script>/",
    b"/tags/%3Cscript%3E/feed.xml",
    b"/tags//feed.xml",
    b"//feed.xml",
    b"/tags/go/../../feed.xml",
    b"/tags/go/feed.xml/",
    b"/tags/go/feed.php",
    b"/feed.xml;jsessionid=1",
    b"/healthz/../feed.xml",
    b"http://127.0.0.1/feed.xml",
    b"*",
]

STATIC_TRAVERSALS = [
    b"/static/../__init__.py",
    b"/static/..%2f__init__.py",
    b"/static/..%2F..%2Fpyproject.toml",
    b"/static/%2e%2e/__init__.py",
    b"/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    b"/static/..%5c__init__.py",
    b"/static//etc/passwd",
    b"/static/%2fetc%2fpasswd",
    b"/static/img/../../__init__.py",
    b"/static/img/..%2f..%2f__init__.py",
    b"/static/feeds.css%00.png",
    b"/static/\xc0\xae\xc0\xae/__init__.py",
]

BAD_QUERIES = [
    b"page=abc", b"page=-1", b"page=0", b"page=99999999999999999999", b"page=1.5", b"page=", b"page=%00",
    b"page=1&page=2", b"page=%D9%A1", b"page=%C2%B2", b"page=+1", b"page=0x1", b"page=1e3", b"%ff=%ff",
    b"page=" + b"9" * 5000, b"page[]=1", b"page=2",
]  # fmt: skip

ODD_HEADERS = [
    {"If-Modified-Since": "garbage"},
    {"If-Modified-Since": "Mon, 32 Foo 99999 25:61:61 GMT"},
    {"If-Modified-Since": "Thu, 01 Jan 0000 00:00:00 GMT"},
    {"If-Modified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"If-Modified-Since": "0"},
    {"If-Modified-Since": "x" * 8000},
    {"If-None-Match": '"' + "a" * 10240 + '"'},
    {"If-None-Match": "x" * 10240},
    {"If-None-Match": ", , ,"},
    {"If-None-Match": 'W/"'},
    {"If-None-Match": "*"},
    {"Accept-Encoding": "gzip;q=abc"},
    {"Accept-Encoding": "*;q=0"},
    {"Accept-Encoding": ";;;,,,q=1"},
    {"Accept-Encoding": "gzip;q=" + "9" * 500},
    {"Accept-Encoding": "identity;q=0"},
    {"Range": "bytes=0-10"},
    {"Range": "bytes=-1-2,garbage"},
    {"If-Range": "garbage", "Range": "bytes=0-1"},
    {"Content-Length": "abc"},
    {"Cookie": "a" * 4000},
    {"Accept": "*/*;q=" + "0." * 100},
]


@pytest.mark.parametrize("path", HOSTILE_PATHS, ids=lambda p: p[:40].decode("latin-1"))
def test_hostile_path_is_never_a_server_error(server: ServerProcess, path: bytes) -> None:
    reply = raw(server, path)
    assert_sane(reply, path)
    assert b"root:" not in reply.body


@pytest.mark.parametrize("path", STATIC_TRAVERSALS, ids=lambda p: p.decode("latin-1"))
def test_static_route_does_not_escape_its_folder(server: ServerProcess, path: bytes) -> None:
    reply = raw(server, path)
    assert_sane(reply, path)
    assert reply.status in (308, 400, 404), path  # 400: refused by gunicorn itself
    if reply.status == 308:  # duplicate slashes merged: still inside /static/, on the site's own address
        assert reply.headers["location"].startswith(server.url("/static/")), reply.headers["location"]
    assert b"__version__" not in reply.body and b"root:" not in reply.body and b"[project]" not in reply.body


def test_static_files_still_serve(server: ServerProcess) -> None:
    assert_sane(reply := raw(server, b"/static/feeds.css"), "css")
    assert reply.status == 200


@pytest.mark.parametrize("query", BAD_QUERIES, ids=lambda q: q[:30].decode("latin-1"))
@pytest.mark.parametrize("path", [b"/feed.xml", b"/tags/go/feed.json"])
def test_bad_page_query_is_a_client_error(server: ServerProcess, path: bytes, query: bytes) -> None:
    reply = raw(server, path + b"?" + query)
    assert_sane(reply, query)
    if not own_error(reply) and query.startswith((b"page=abc", b"page=-1", b"page=0", b"page=99", b"page=1.5", b"page=2")):
        assert reply.status in (400, 404), query


@pytest.mark.parametrize("headers", ODD_HEADERS, ids=lambda h: str(h)[:40])
@pytest.mark.parametrize("path", [b"/feed.xml", b"/", b"/healthz"])
def test_odd_headers_are_never_a_server_error(server: ServerProcess, path: bytes, headers: dict[str, str]) -> None:
    assert_sane(raw(server, path, headers=headers), headers)


def test_gzip_refused_with_q0_gives_identity(server: ServerProcess) -> None:
    reply = raw(server, b"/feed.xml", headers={"Accept-Encoding": "gzip;q=0"})
    assert reply.status == 200
    assert "content-encoding" not in reply.headers
    assert reply.body.startswith(b"<?xml")
    assert_sane(reply, "gzip;q=0")
    zipped = raw(server, b"/feed.xml", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"].endswith('-gz"')
    assert_sane(zipped, "gzip")


def test_conditional_requests_still_work(server: ServerProcess) -> None:
    first = raw(server, b"/feed.xml")
    again = raw(server, b"/feed.xml", headers={"If-None-Match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""
    since = raw(server, b"/feed.xml", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status == 304


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE", b"CONNECT", b"FOO", b"PROPFIND"])
@pytest.mark.parametrize("path", [b"/feed.xml", b"/tags/go/atom.xml", b"/", b"/tags/", b"/feeds.opml", b"/healthz"])
def test_wrong_method_is_405_with_allow(server: ServerProcess, path: bytes, method: bytes) -> None:
    reply = raw(server, path, method=method, headers={"Content-Length": "0"})
    assert_sane(reply, (method, path))
    if own_error(reply):  # gunicorn refuses some methods (CONNECT) itself
        return
    assert reply.status == 405, (method, path)
    allowed = {m.strip() for m in reply.headers["allow"].split(",")}
    assert {"GET", "HEAD"} <= allowed and not {"POST", "PUT", "DELETE", "PATCH"} & allowed


def test_rebuild_endpoint_is_off_without_a_token(server: ServerProcess) -> None:
    for method in (b"POST", b"GET"):
        reply = raw(server, b"/-/rebuild", method=method, headers={"Authorization": "Bearer x", "Content-Length": "0"})
        assert_sane(reply, method)
        assert reply.status == 404


@pytest.mark.parametrize("path", [b"/feed.xml", b"/", b"/healthz", b"/nope", b"/feed.xml?page=abc"])
def test_head_and_options_answer_without_error(server: ServerProcess, path: bytes) -> None:
    head = raw(server, path, method=b"HEAD")
    assert 200 <= head.status < 500 and head.headers.get("x-content-type-options") == "nosniff"
    assert head.body == b""
    options = raw(server, path, method=b"OPTIONS")
    assert 200 <= options.status < 500 and options.headers.get("x-content-type-options") == "nosniff"


def test_every_error_is_short_plain_text(server: ServerProcess) -> None:
    reply = raw(server, b"/tags/" + b"x" * 2000 + b"/feed.xml")
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/plain")
