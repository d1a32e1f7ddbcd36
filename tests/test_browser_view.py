"""A browser opening a feed URL gets a styled HTML page; feed readers get the feed, byte for byte."""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Callable

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.web.negotiation import prefers_html

from .server import ServerProcess

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FEEDPARSER = (
    "application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (CHROME, True),
        (FIREFOX, True),
        ("text/html", True),
        (FEEDPARSER, False),
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/rss+xml, text/html", False),  # a tie goes to the feed
        ("application/json", False),
        ("text/html;q=0.5, application/feed+json", False),
        ("text/*", False),  # wildcards never mean HTML
        ("text/html;level=1", True),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


@pytest.mark.parametrize("path", ["/feed.xml", "/atom.xml", "/feed.json", "/tags/go/feed.xml"])
def test_a_browser_gets_the_html_view_with_the_items(client: FlaskClient, path: str) -> None:
    feed = client.get(path)
    view = client.get(path, headers={"Accept": CHROME})
    assert view.status_code == 200 and view.headers["Content-Type"] == "text/html; charset=utf-8"
    assert view.headers["Vary"] == feed.headers["Vary"] == "Accept, Accept-Encoding"
    assert view.headers["ETag"] != feed.headers["ETag"]
    text = view.get_data(as_text=True)
    assert "This is a feed" in text and "feed reader" in text
    for entry in feedparser.parse(client.get(path.replace("feed.json", "feed.xml")).data).entries:
        assert entry.link in text
    assert text.count('<input class="feed-url"') == 3


@pytest.mark.parametrize("accept", [FEEDPARSER, None, "*/*", "application/rss+xml"])
def test_readers_get_the_unchanged_feed(client: FlaskClient, accept: str | None) -> None:
    plain = client.get("/feed.xml")
    response = client.get("/feed.xml", headers={"Accept": accept} if accept else {})
    assert response.data == plain.data and response.headers["ETag"] == plain.headers["ETag"]
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"


def test_conditional_requests_match_each_representation(client: FlaskClient) -> None:
    feed_etag = client.get("/atom.xml").headers["ETag"]
    view_etag = client.get("/atom.xml", headers={"Accept": CHROME}).headers["ETag"]
    assert client.get("/atom.xml", headers={"Accept": CHROME, "If-None-Match": view_etag}).status_code == 304
    assert client.get("/atom.xml", headers={"If-None-Match": feed_etag}).status_code == 304
    # The feed's validator does not validate the HTML, nor the other way round.
    assert client.get("/atom.xml", headers={"Accept": CHROME, "If-None-Match": feed_etag}).status_code == 200
    assert client.get("/atom.xml", headers={"If-None-Match": view_etag}).status_code == 200


def test_the_view_is_gzipped_and_answers_head(client: FlaskClient) -> None:
    plain = client.get("/feed.xml", headers={"Accept": CHROME})
    zipped = client.get("/feed.xml", headers={"Accept": CHROME, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == plain.data
    head = client.head("/feed.xml", headers={"Accept": CHROME})
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == plain.headers["ETag"]


def test_archives_have_their_own_view_with_links(make_app: Callable[..., Flask]) -> None:
    client = make_app(items_per_feed=5).test_client()  # 18 posts: archives 1-3
    second = client.get("/archive/2/feed.xml", headers={"Accept": CHROME}).get_data(as_text=True)
    assert "<h2>Archive 2</h2>" in second
    assert 'href="http://127.0.0.1:8000/archive/1/feed.xml" rel="prev"' in second
    assert 'href="http://127.0.0.1:8000/archive/3/feed.xml" rel="next"' in second
    assert 'href="http://127.0.0.1:8000/feed.xml">Newest posts' in second
    current = client.get("/feed.xml", headers={"Accept": CHROME}).get_data(as_text=True)
    assert 'href="http://127.0.0.1:8000/archive/3/feed.xml" rel="prev"' in current
    assert client.get("/archive/4/feed.xml", headers={"Accept": CHROME}).status_code == 404


def test_the_real_server_negotiates(server: ServerProcess) -> None:
    request = urllib.request.Request(server.url("/feed.xml"), headers={"Accept": FIREFOX})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"This is a feed" in response.read()
    with urllib.request.urlopen(server.url("/feed.xml")) as response:
        assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
        assert not feedparser.parse(response.read()).bozo
