"""Discovery (/, /tags/, /tags/<slug>/, OPML) and what is published when (drafts, scheduled posts)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from lxml import html as lxml_html

from .conftest import published
from .server import ServerProcess

SITE = "http://127.0.0.1:8000"
FEED_TYPES = {"application/rss+xml": "feed.xml", "application/atom+xml": "atom.xml", "application/feed+json": "feed.json"}
DRAFT_TITLE = "Notes on Cell-Based Architecture"
FUTURE_TITLE = "One Year of Running Our Own Feed Service"


def page(client: FlaskClient, path: str) -> lxml_html.HtmlElement:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    return lxml_html.fromstring(response.data)


def autodiscovery(doc: lxml_html.HtmlElement) -> dict[str, str]:
    return {link.get("type"): link.get("href") for link in doc.xpath("//head/link[@rel='alternate']")}


def test_home_is_a_real_page_with_every_overall_feed_and_the_newest_posts(client: FlaskClient) -> None:
    doc = page(client, "/")
    assert doc.findtext(".//title") == "Test Notes" and doc.findtext(".//h1") == "Test Notes"
    assert autodiscovery(doc) == {t: f"{SITE}/{name}" for t, name in FEED_TYPES.items()}
    assert {a.get("href") for a in doc.xpath("//a[@class='subscribe']")} == {f"{SITE}/{name}" for name in FEED_TYPES.values()}
    newest = feedparser.parse(client.get("/feed.xml").data).entries
    assert [h.text_content() for h in doc.xpath("//ol[@class='entries']//h3")] == [e.title for e in newest]


def test_tags_page_lists_every_tag_with_its_count_and_three_feeds(client: FlaskClient) -> None:
    doc = page(client, "/tags/")
    rows = doc.xpath("//table[@class='tags']/tbody/tr")
    opml = etree.fromstring(client.get("/feeds.opml").data).findall(".//outline")
    assert len(rows) == sum(1 for o in opml if "/tags/" in o.get("xmlUrl")) > 10
    for row in rows:
        link, count, feeds = row.findall("td")
        slug = link.find("a").get("href").removeprefix(f"{SITE}/tags/").rstrip("/")
        hrefs = [a.get("href") for a in feeds.findall("a")]
        assert hrefs == [f"{SITE}/tags/{slug}/{name}" for name in FEED_TYPES.values()]
        items = json.loads(client.get(f"/tags/{slug}/feed.json").data)["items"]
        assert int(count.text) == len(items) >= 1, slug


def test_every_tag_page_has_its_own_autodiscovery(client: FlaskClient) -> None:
    for outline in etree.fromstring(client.get("/feeds.opml").data).findall(".//outline")[1:]:
        prefix = outline.get("htmlUrl").removeprefix(SITE)
        doc = page(client, prefix)
        assert autodiscovery(doc) == {t: f"{SITE}{prefix}{name}" for t, name in FEED_TYPES.items()}
        assert outline.get("text").split(": ", 1)[1] in doc.findtext(".//h1")


def test_opml_is_opml_2_with_one_outline_per_scope_in_each_format(client: FlaskClient) -> None:
    tags = len(page(client, "/tags/").xpath("//table[@class='tags']/tbody/tr"))
    for path, filename, media_type in (
        ("/feeds.opml", "feed.xml", "application/rss+xml"),
        ("/feeds-atom.opml", "atom.xml", "application/atom+xml"),
        ("/feeds-json.opml", "feed.json", "application/feed+json"),
    ):
        response = client.get(path)
        assert response.headers["Content-Type"] == "text/x-opml; charset=utf-8"
        root = etree.fromstring(response.data)
        assert root.tag == "opml" and root.get("version") == "2.0"
        assert [child.tag for child in root] == ["head", "body"]
        assert root.findtext("head/title") and root.findtext("head/dateModified") and root.findtext("head/ownerName")
        outlines = root.findall("body/outline")
        # The site, its section (podcast), its one author (the site author: the sample's posts name none) and every tag.
        assert len(outlines) == tags + 3 and not root.findall("body/outline/outline")
        assert len({o.get("xmlUrl") for o in outlines}) == len(outlines)
        for outline in outlines:
            # OPML 2.0 subscription lists: type="rss" (for every format), text, xmlUrl; version only for RSS.
            assert outline.get("type") == "rss" and outline.get("text") and outline.get("title") == outline.get("text")
            assert outline.get("version") == ("RSS2" if filename == "feed.xml" else None)
            assert outline.get("xmlUrl").endswith("/" + filename) and outline.get("htmlUrl").endswith("/")
            feed = client.get(outline.get("xmlUrl").removeprefix(SITE))
            assert feed.status_code == 200 and feed.headers["Content-Type"].startswith(media_type)


def every_body(app: Flask) -> list[bytes]:
    return list(published(app).values())


def test_a_draft_appears_nowhere(app: Flask) -> None:
    bodies = every_body(app)
    assert len(bodies) > 100
    assert not [body[:80] for body in bodies if DRAFT_TITLE.encode() in body or b"cell-based" in body.lower()]


def test_a_scheduled_post_appears_at_the_first_scan_after_its_time(app: Flask) -> None:
    state, client = app.extensions["feeds"], app.test_client()
    assert not [b for b in every_body(app) if FUTURE_TITLE.encode() in b]
    state.builder.clock = lambda: datetime(2027, 6, 1, 8, 59, tzinfo=UTC)
    assert not state.builder.rescan()  # nothing changed, nothing due yet
    state.builder.clock = lambda: datetime(2027, 6, 1, 9, 0, 30, tzinfo=UTC)
    assert state.builder.rescan()  # no file changed: the post's time came
    assert feedparser.parse(client.get("/feed.xml").data).entries[0].title == FUTURE_TITLE
    assert FUTURE_TITLE.encode() in client.get("/tags/architecture/atom.xml").data
    assert FUTURE_TITLE.encode() in client.get("/").data
    assert state.current.next_change is None


def test_the_real_server_hides_drafts_and_future_posts(server: ServerProcess) -> None:
    for path in ("/feed.xml", "/atom.xml", "/feed.json", "/", "/tags/", "/feeds.opml", "/tags/architecture/feed.xml"):
        with urllib.request.urlopen(server.url(path)) as response:
            body = response.read()
        assert DRAFT_TITLE.encode() not in body and FUTURE_TITLE.encode() not in body, path


def test_links_to_non_ascii_tags_are_percent_encoded_and_work(make_app: Callable[..., Flask], content: Path) -> None:
    (content / "2026-06-03-cafe.md").write_text("---\ntitle: Coffee\ntags: [Café]\n---\nBeans.\n", encoding="utf-8")
    client = make_app().test_client()
    encoded = "/tags/caf%C3%A9/"
    assert f'{encoded}"' in client.get("/tags/").get_data(as_text=True)
    assert f'{encoded}"' in client.get("/").get_data(as_text=True)
    opml = client.get("/feeds.opml").get_data(as_text=True)
    assert f'{encoded}feed.xml"' in opml and "/tags/café/" not in opml
    assert client.get(encoded + "feed.xml").status_code == 200
