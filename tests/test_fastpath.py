"""The replay cache in front of Flask answers exactly what Flask answers, and forgets on a swap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder, run_wsgi_app

from feeds.web.fastpath import ReplayCache

Answer = tuple[str, list[tuple[str, str]], bytes]


def _call(wsgi: Any, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    environ = EnvironBuilder(path=path, method=method, headers=headers or {}).get_environ()
    body, status, response_headers = run_wsgi_app(wsgi, environ)
    return status, sorted(response_headers.items()), b"".join(body)


def _etag(app: Flask, path: str, gzip: bool) -> str:
    status, headers, _ = _call(app.wsgi_app, path, headers={"Accept-Encoding": "gzip"} if gzip else {})
    return dict(headers)["ETag"]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(items_per_feed=5)


def _requests(app: Flask) -> list[tuple[str, str, dict[str, str]]]:
    gz = {"Accept-Encoding": "gzip"}
    plain_tag, gzip_tag = _etag(app, "/feed.xml", False), _etag(app, "/feed.xml", True)
    status, headers, _ = _call(app.wsgi_app, "/feed.xml")
    modified = dict(headers)["Last-Modified"]
    cases: list[tuple[str, str, dict[str, str]]] = []
    paths = ("/feed.xml", "/atom.xml", "/feed.json", "/page/2/feed.xml", "/feed.xml?page=2", "/tags/observability/feed.json", "/", "/tags/")
    for path in (*paths, "/feeds.opml"):
        for method in ("GET", "HEAD"):
            cases += [(path, method, {}), (path, method, gz), (path, method, {"Accept-Encoding": "gzip;q=0"})]
    cases += [
        ("/feed.xml", "GET", {"If-None-Match": plain_tag}),
        ("/feed.xml", "GET", {"If-None-Match": gzip_tag, **gz}),
        ("/feed.xml", "HEAD", {"If-None-Match": gzip_tag, **gz}),
        ("/feed.xml", "GET", {"If-None-Match": '"nope"', **gz}),
        ("/feed.xml", "GET", {"If-None-Match": "*"}),
        ("/feed.xml", "GET", {"If-Modified-Since": modified}),
        ("/feed.xml", "GET", {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT", **gz}),
        ("/feed.xml?page=999", "GET", {}),
        ("/feed.xml?page=x", "GET", {}),
        ("/feed.xml?page=0", "GET", gz),
        ("/tags/no-such-tag/feed.xml", "GET", {}),
        ("/tags/no-such-tag/", "GET", {}),
        ("/nothing", "GET", {}),
        ("/healthz", "GET", {}),
        ("/feed.xml", "POST", {}),
    ]
    return cases


def replay_cache(app: Flask) -> ReplayCache:
    """The replay cache, behind the poll limit (which must see replayed answers too)."""
    cached = app.wsgi_app.app  # type: ignore[attr-defined]
    assert isinstance(cached, ReplayCache)
    return cached


def test_replayed_answers_are_flask_answers(app: Flask) -> None:
    cached = replay_cache(app)
    flask_only = cached.app
    for path, method, headers in _requests(app):
        expected = _call(flask_only, path, method, headers)
        first = _call(cached, path, method, headers)
        again = _call(cached, path, method, headers)
        assert first == expected, (path, method, headers)
        assert again == expected, (path, method, headers)
    assert cached._answers, "feed hits are replayed"
    assert not any(key[1] in ("/healthz", "/nothing") for key in cached._answers), "only cacheable answers are kept"
    assert all(answer[0].startswith(("200", "304")) for answer in cached._answers.values())


def test_a_swap_empties_the_replay_cache(app: Flask, content: Path) -> None:
    cached = replay_cache(app)
    before = _call(cached, "/feed.json")
    assert _call(cached, "/feed.json") == before
    post = sorted(content.glob("*.md"))[-3]
    post.write_text(post.read_text(encoding="utf-8") + "\nRenamed things.\n", encoding="utf-8")
    assert app.extensions["feeds"].builder.rescan()
    after = _call(cached, "/feed.json")
    assert after != before and b"Renamed" in after[2]
    assert after == _call(cached.app, "/feed.json")
