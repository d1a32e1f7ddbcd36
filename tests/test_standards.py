"""Every feed we serve — overall, every tag, every page — passes the validator's rules.

A real ``feeds serve`` process with three posts per page (so every scope has
several pages) is crawled from its OPML lists; each document goes through the
checks in ``feedcheck`` (the W3C validator's messages), feedparser, and the
JSON Feed 1.1 schema.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import urllib.request
from collections.abc import Iterator

import feedparser
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree

from . import feedcheck
from .conftest import DATA, SAMPLE, SITE_CONFIG
from .server import ServerProcess

HUB = "https://hub.example.com/websub"
SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
Fetched = dict[str, tuple[str, bytes]]


def fetch(url: str, accept: str | None = None) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Type"], response.read()


@pytest.fixture(scope="module")
def paged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("standards")
    shutil.copytree(SAMPLE, root / "content")
    (root / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    env = {"FEEDS_ITEMS_PER_FEED": "3", "FEEDS_WEBSUB_HUBS": HUB}
    with ServerProcess(root / "content", root / "feeds.toml", env=env) as server:
        yield server


@pytest.fixture(scope="module")
def documents(paged_server: ServerProcess) -> Fetched:
    """Every feed document, found the way an aggregator would: OPML, then paging links."""
    found: Fetched = {}
    for opml in ("/feeds.opml", "/feeds-atom.opml", "/feeds-json.opml"):
        _, body = fetch(paged_server.url(opml))
        for outline in etree.fromstring(body).iter("outline"):
            url: str | None = outline.get("xmlUrl")
            while url:
                found[url] = fetch(url)
                url = next_page(*found[url])
    return found


def next_page(content_type: str, body: bytes) -> str | None:
    """The next older document: JSON Feed ``next_url``, RFC 5005 ``prev-archive`` (current → newest archive → … → 1)."""
    if content_type.startswith("application/feed+json"):
        return json.loads(body).get("next_url")
    return feedcheck.links(body).get("prev-archive")


def first_page(url: str) -> str:
    """The URL of the current feed whose archive ``url`` is (``…/archive/3/atom.xml`` → ``…/atom.xml``)."""
    return re.sub(r"/archive/[0-9]+/([^/]+)$", r"/\1", url)


def home_of(url: str) -> str:
    return first_page(url).rsplit("/", 1)[0] + "/"


def test_crawl_covers_every_scope_format_and_page(paged_server: ServerProcess, documents: Fetched) -> None:
    tags = len(etree.fromstring(fetch(paged_server.url("/feeds.opml"))[1]).findall(".//outline")) - 1
    assert tags > 10
    first_pages = [url for url in documents if "/archive/" not in url]
    assert len(first_pages) == 3 * (tags + 1)
    assert paged_server.url("/archive/6/feed.xml") in documents  # 18 posts, 3 per archive
    assert paged_server.url("/archive/1/feed.xml") in documents
    assert any("/archive/" in url and "/tags/" in url for url in documents)
    assert any("/authors/" in url for url in documents)


def test_every_rss_document_is_valid_with_zero_warnings(documents: Fetched) -> None:
    problems = []
    rss = {url: body for url, (kind, body) in documents.items() if kind == "application/rss+xml; charset=utf-8"}
    assert rss
    for url, body in rss.items():
        problems += feedcheck.rss(url, body, home=home_of(url), hubs=(HUB,))
    assert problems == []


def test_every_atom_document_is_valid_with_zero_warnings(documents: Fetched) -> None:
    problems = []
    atom = {url: body for url, (kind, body) in documents.items() if kind == "application/atom+xml; charset=utf-8"}
    assert atom
    for url, body in atom.items():
        problems += feedcheck.atom(url, body, home=home_of(url), hubs=(HUB,), feed_id=first_page(url))
    assert problems == []


def test_every_json_feed_matches_the_schema_and_has_every_recommended_field(paged_server: ServerProcess, documents: Fetched) -> None:
    validator = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    feeds = {url: json.loads(body) for url, (kind, body) in documents.items() if kind == "application/feed+json; charset=utf-8"}
    assert feeds
    for url, feed in feeds.items():
        assert [e.message for e in validator.iter_errors(feed)] == [], url
        assert feed["feed_url"] == url
        assert feed["home_page_url"] == home_of(url)
        assert feed["icon"] == paged_server.url("/static/icon-512.png")
        assert feed["favicon"] == paged_server.url("/static/favicon-64.png")
        assert feed["language"] == "en" and feed["description"] and feed["authors"]
        assert feed["hubs"] == [{"type": "WebSub", "url": HUB}]
        for item in feed["items"]:
            for field in ("id", "url", "title", "content_html", "summary", "date_published", "date_modified", "authors", "tags"):
                assert item.get(field), (url, item["id"], field)
            assert "<" not in item["summary"], "summary is plain text"
            assert item["date_modified"] >= item["date_published"]
            assert feedcheck.html_problems(f"{url} {item['id']}", item["content_html"]) == []
            if "image" in item:
                assert item["banner_image"] and item["image"].startswith("http")


def test_the_schema_rejects_what_it_should() -> None:
    validator = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1", "content_html": "<p>x</p>"}]}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "items": [{"id": "1"}]})  # no content
    assert not validator.is_valid({**good, "feed_url": "not a url"})
    assert not validator.is_valid({**good, "items": [{"id": "1", "content_text": "x", "date_published": "2026-05-01"}]})


def test_default_icons_are_real_pngs_of_the_advertised_size(paged_server: ServerProcess) -> None:
    for path, size in (("/static/icon-512.png", 512), ("/static/favicon-64.png", 64)):
        content_type, body = fetch(paged_server.url(path))
        assert content_type == "image/png"
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", body[16:24]) == (size, size)


def test_feedparser_reads_every_document_without_bozo(documents: Fetched) -> None:
    for url, (kind, body) in documents.items():
        if "json" in kind:
            continue
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert parsed.entries and all(e.get("id") and e.get("link") and e.get("content") for e in parsed.entries), url


def test_rss_and_atom_carry_summary_and_full_content(paged_server: ServerProcess) -> None:
    rss = feedparser.parse(fetch(paged_server.url("/feed.xml"))[1])
    atom = feedparser.parse(fetch(paged_server.url("/atom.xml"))[1])
    for parsed in (rss, atom):
        entry = parsed.entries[0]
        assert entry.summary and "<p>" not in entry.summary  # description/summary = the summary
        assert entry.content[0].value.startswith("<p>")  # content:encoded / content = full HTML
        assert len(entry.content[0].value) > 3 * len(entry.summary)
    assert atom.entries[0].content[0].type == "text/html"


def test_json_feed_items_match_rss_items(documents: Fetched, paged_server: ServerProcess) -> None:
    rss_ids = [e.id for e in feedparser.parse(documents[paged_server.url("/feed.xml")][1]).entries]
    json_ids = [item["id"] for item in json.loads(documents[paged_server.url("/feed.json")][1])["items"]]
    assert rss_ids == json_ids


def test_guid_is_not_a_permalink_for_tag_uris(paged_server: ServerProcess) -> None:
    root = feedcheck.parse(fetch(paged_server.url("/feed.xml"))[1])
    guids = root.findall("channel/item/guid")
    assert guids and all(g.text.startswith("tag:") and g.get("isPermaLink") == "false" for g in guids)


def test_rss_names_authors_with_dc_creator_never_an_email(paged_server: ServerProcess) -> None:
    body = fetch(paged_server.url("/feed.xml"))[1]
    root = feedcheck.parse(body)
    items = root.findall("channel/item")
    assert items and all(item.findtext(f"{{{feedcheck.DC}}}creator") == "Test Author" for item in items)
    assert root.findall("channel/item/author") == [] and b"author@example.com" not in body


def test_checks_catch_the_mistakes_they_name() -> None:
    """The checker itself: known-bad documents are reported with the validator's message."""
    bad = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>t</title><link>http://x.test/</link><description>d</description><language>en_US</language>
<atom:link rel="self" href="http://x.test/other.xml" type="application/rss+xml"/>
<item><title>a</title><link>http://x.test/a</link><description>&lt;a href="../b"&gt;b&lt;/a&gt;</description>
<guid>tag:x.test,2026:a</guid><pubDate>Sun, 10 May 26 00:00:00 GMT</pubDate></item>
<ttl>5</ttl></channel></rss>"""
    text = "\n".join(feedcheck.rss("http://x.test/feed.xml", bad, home="http://x.test/", hubs=()))
    assert "NotHtml" in "".join(feedcheck.html_problems("x", "<p>unclosed <b>bold</p>"))
    expected = ("InvalidLanguage", "SelfDoesntMatchLocation", "ContainsRelRef", "InvalidPermalink", "InvalidRFC2822Date", "MisplacedItem")
    for message in expected:
        assert message in text, message
    assert "never used" in text  # dc declared, not used
