"""What real readers saw (issue 10), through every real server: feeds serve, gunicorn and granian.

One content folder with the awkward cases — tags in Japanese, with an accent and with an
emoji, a title full of markup characters, raw HTML with a script, a stray end tag and a
relative link whose title holds a ``>`` — served by each server, and checked as a client
sees it: valid URIs in every header, link and topic; 200s at those URIs; the exact
characters of the title; sanitized, balanced HTML with absolute links; JSON Feed authors.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import shutil
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import feedparser
import pytest

from . import feedcheck
from .conftest import SITE_CONFIG
from .corpus import SAMPLE
from .server import ServerProcess, WsgiServer
from .wellformed import assert_json_feed, assert_xml_feed

TAGS = ("日本語", "Café", "Party 🎉")
SLUGS = ("日本語", "café", "party")
TITLE = 'AT&T <b>bold</b> & "quotes" — 🎉'
HUB = "http://127.0.0.1:9/hub"
POST = f"""\
---
title: '{TITLE}'
date: 2026-06-01
tags: [{", ".join(TAGS)}]
---
A post for every client.<script>alert(1)</script> A stray end tag</div> and an <b>unclosed one.

<p><a title="1 > 0" href="../relative/">a link whose title holds a greater-than sign</a>
<img src="pics/x.png" onerror="alert(2)" alt="x"> <a href="javascript:alert(3)">bad</a></p>
"""


def uri_ok(value: str) -> bool:
    """Whether ``value`` is ASCII with no space (a URI, not an IRI)."""
    return value.isascii() and not re.search(r"\s", value)


@pytest.fixture(scope="module", params=["feeds serve", "gunicorn", "granian"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("real")
    shutil.copytree(SAMPLE, root / "content")
    (root / "content" / "2026-06-01-every-client.md").write_text(POST, encoding="utf-8")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    env = {"FEEDS_WEBSUB_HUBS": HUB}
    if request.param == "feeds serve":
        server: ServerProcess = ServerProcess(root / "content", root / "feeds.toml", env=env)
    else:
        server = WsgiServer(request.param, root / "content", root / "feeds.toml", workers=2, env=env)
    try:
        yield server
    finally:
        server.stop()


def get(server: ServerProcess, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("slug", SLUGS)
def test_non_ascii_tag_feeds_answer_with_valid_uris_everywhere(served: ServerProcess, slug: str) -> None:
    for name in ("feed.xml", "atom.xml", "feed.json"):
        path = f"/tags/{quote(slug)}/{name}"
        status, headers, body = get(served, path)
        assert status == 200, path
        links = headers["link"]
        assert all(uri_ok(url) for url in re.findall(r"<([^>]*)>", links)) and links.isascii()
        assert f'<{served.url(path)}>; rel="self"' in links and f'<{HUB}>; rel="hub"' in links
        if name == "feed.json":
            document = assert_json_feed(body, path)
            assert document["feed_url"] == served.url(path) and uri_ok(document["home_page_url"])
        else:
            assert feedcheck.links(body)["self"] == served.url(path)
            assert_xml_feed(body, path)
    opml = get(served, "/feeds.opml")[2].decode("utf-8")
    assert f'xmlUrl="{served.url(f"/tags/{quote(slug)}/feed.xml")}"' in opml
    for url in re.findall(r'(?:href|xmlUrl|htmlUrl)="([^"]+)"', get(served, "/tags/")[2].decode("utf-8") + opml):
        assert uri_ok(url), url


def test_the_emoji_stays_in_the_name_and_out_of_the_url(served: ServerProcess) -> None:
    document = json.loads(get(served, "/tags/party/feed.json")[2])
    assert document["title"].endswith("Party 🎉")
    assert json.loads(get(served, "/feed.json")[2])["items"][0]["tags"] == list(TAGS)


def test_the_title_is_the_characters_typed_in_every_format(served: ServerProcess) -> None:
    for name in ("feed.xml", "atom.xml"):
        entry = feedparser.parse(get(served, f"/{name}")[2]).entries[0]
        # feedparser gives an HTML-typed title as HTML: a reader shows the escaped form as the characters typed.
        shown = entry.title if entry.title_detail.type == "text/plain" else html.unescape(entry.title)
        assert shown == TITLE, name
    assert json.loads(get(served, "/feed.json")[2])["items"][0]["title"] == TITLE
    # The W3C validator's rules (ContainsHTML, ContainsUndeclaredHTML among them) say nothing.
    home = served.url("/")
    assert feedcheck.rss(served.url("/feed.xml"), get(served, "/feed.xml")[2], home=home, hubs=(HUB,)) == []
    url = served.url("/atom.xml")
    assert feedcheck.atom(url, get(served, "/atom.xml")[2], home=home, hubs=(HUB,), feed_id=url) == []


def test_post_html_is_sanitized_balanced_and_absolute(served: ServerProcess) -> None:
    html = json.loads(get(served, "/feed.json")[2])["items"][0]["content_html"]
    assert "<script" not in html and "alert(1)" not in html and "onerror" not in html and "javascript:" not in html
    assert feedcheck.html_problems("every-client", html) == []  # parses strictly, as the W3C validator's NotHtml does
    assert 'href="http://127.0.0.1:8000/posts/relative/"' in html.replace(served.base, "http://127.0.0.1:8000")
    assert re.search(r'src="[^"]*/posts/every-client/pics/x\.png"', html)
    for name in ("feed.xml", "atom.xml"):
        content = feedparser.parse(get(served, f"/{name}")[2]).entries[0].content[0].value
        assert "<script" not in content and "/posts/relative/" in content


def test_json_feed_names_its_author_for_1_0_readers_too(served: ServerProcess) -> None:
    document = json.loads(get(served, "/feed.json")[2])
    assert document["author"] == document["authors"][0] and document["author"]["name"]
    item = document["items"][0]
    assert item["author"] == item["authors"][0]
    assert urlsplit(item["url"]).scheme == "http"
