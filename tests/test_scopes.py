"""Authors, sections, languages, per-scope options and ``feed: false`` (issue 19), on tests/data/scopes/.

The site: two essays (Ana Lima; Ana Lima and Bo Chen), three notes by Bo Chen in
``notes/`` (one in German, one ``feed: false``), and two posts at the top by the
site author (one in German, one with an audio attachment). Its feeds.toml keeps
notes out of the site-wide feeds, makes tag and note feeds summary-only, and sets
2 items per author and note feed, 3 elsewhere.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree
from lxml import html as lxml_html

from feeds.web.app import create_app, stop

from . import feedcheck
from .conftest import DATA

SCOPES = DATA / "scopes"
SITE = "https://blog.example.com"
SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
NOTES = {"A short note", "Eine kurze Notiz"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    root = tmp_path_factory.mktemp("scopes")
    shutil.copytree(SCOPES / "content", root / "content")
    app = create_app(
        {"content_dir": str(root / "content"), "snapshot_dir": str(root / "snapshot")}, config_file=SCOPES / "feeds.toml", env={}
    )
    yield app
    stop(app)


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, url: str) -> bytes:
    response = client.get(url.removeprefix(SITE))
    assert response.status_code == 200, url
    return bytes(response.data)


def titles(client: FlaskClient, url: str) -> list[str]:
    return [item["title"] for item in json.loads(get(client, url))["items"]]


def outlines(client: FlaskClient) -> list[str]:
    return [
        o.get("xmlUrl").removeprefix(SITE).removesuffix("feed.xml") for o in etree.fromstring(get(client, "/feeds.opml")).iter("outline")
    ]


def test_every_scope_has_three_feeds_a_page_and_an_outline(client: FlaskClient) -> None:
    prefixes = outlines(client)
    assert prefixes == [
        "/",
        "/sections/essays/",
        "/sections/notes/",
        "/authors/ana-lima/",
        "/authors/bo-chen/",
        "/authors/site-owner/",
        "/tags/feeds/",
        "/tags/history/",
        "/languages/de/",
        "/languages/en/",
    ]
    index = lxml_html.fromstring(get(client, "/"))
    linked = {a.get("href") for a in index.iter("a")}
    assert {f"{SITE}/sections/", f"{SITE}/authors/", f"{SITE}/tags/", f"{SITE}/languages/"} <= linked
    for prefix in prefixes:
        for filename in ("feed.xml", "atom.xml", "feed.json"):
            get(client, prefix + filename)
        page = lxml_html.fromstring(get(client, prefix))
        alternates = [link.get("href") for link in page.xpath("//head/link[@rel='alternate']")]
        assert alternates == [f"{SITE}{prefix}{name}" for name in ("feed.xml", "atom.xml", "feed.json")]
    for kind in ("sections", "authors", "tags", "languages"):
        rows = lxml_html.fromstring(get(client, f"/{kind}/")).xpath("//tbody/tr")
        assert len(rows) == sum(p.startswith(f"/{kind}/") for p in prefixes)


def test_author_feeds_hold_each_authors_posts_with_their_options(client: FlaskClient) -> None:
    assert titles(client, "/authors/ana-lima/feed.json") == ["Written together", "Why archives stay put"]
    # Bo Chen has three posts in feeds: two per author feed ([author_feeds] items_per_feed = 2), one archive.
    assert titles(client, "/authors/bo-chen/feed.json") == ["Written together", "Eine kurze Notiz"]
    assert titles(client, "/authors/bo-chen/archive/1/feed.json") == ["Eine kurze Notiz", "A short note"]
    assert titles(client, "/authors/site-owner/feed.json") == ["Ein Beitrag", "An episode"]
    ana = feedparser.parse(get(client, "/authors/ana-lima/feed.xml"))
    assert ana.feed.title == "Field Notes: Ana Lima" and ana.entries[1].author == "Ana Lima"
    assert {a.name for a in ana.entries[0].authors} == {"Ana Lima", "Bo Chen"} and "@" not in ana.entries[0].author


def test_a_section_can_stay_out_of_the_site_feeds_and_keeps_its_own(client: FlaskClient) -> None:
    site = {title for url in ("/feed.json", "/archive/1/feed.json") for title in titles(client, url)}
    assert not site & NOTES and site == {"Ein Beitrag", "An episode", "Written together", "Why archives stay put"}
    assert set(titles(client, "/sections/notes/feed.json")) == NOTES
    assert titles(client, "/sections/essays/feed.json") == ["Written together", "Why archives stay put"]
    notes = feedparser.parse(get(client, "/sections/notes/atom.xml")).feed
    assert notes.title == "Field Notes: Notes" and notes.subtitle == "Short notes, kept out of the site-wide feeds."
    # Tags and authors still carry the notes.
    tagged = set(titles(client, "/tags/feeds/feed.json") + titles(client, "/tags/feeds/archive/1/feed.json"))
    assert tagged >= NOTES


def test_a_post_with_feed_false_has_a_page_but_is_in_no_feed(app: Flask, client: FlaskClient) -> None:
    runtime = app.extensions["feeds"]
    for path, item in runtime.current.items.items():
        if item.media_type.startswith(("application/rss", "application/atom", "application/feed")):
            assert b"not-in-any-feed" not in runtime.store.read(item.etag), path
    page = lxml_html.fromstring(get(client, "/posts/not-in-any-feed/"))
    assert page.findtext(".//h1") == "Not in any feed"


def test_summary_only_feeds_carry_summary_link_and_image_but_no_body(client: FlaskClient) -> None:
    for url in ("/tags/history/feed.xml", "/sections/notes/feed.xml"):
        items = feedcheck.parse(get(client, url)).findall("channel/item")
        assert items and all(item.find(f"{{{feedcheck.CONTENT}}}encoded") is None and item.findtext("description") for item in items)
    atom = feedcheck.parse(get(client, "/tags/history/atom.xml"))
    entries = atom.findall(f"{{{feedcheck.ATOM}}}entry")
    assert entries and all(e.find(f"{{{feedcheck.ATOM}}}content") is None for e in entries)
    assert any(e.find(f"{{{feedcheck.MEDIA}}}content") is not None for e in entries)  # the lead image stays
    for item in json.loads(get(client, "/tags/history/feed.json"))["items"]:
        assert "content_html" not in item and item["content_text"] == item["summary"] and item["url"]
    full = feedcheck.parse(get(client, "/feed.xml")).findall("channel/item")
    assert all(item.find(f"{{{feedcheck.CONTENT}}}encoded") is not None for item in full)


def test_languages_per_post(client: FlaskClient) -> None:
    assert titles(client, "/languages/de/feed.json") == ["Ein Beitrag", "Eine kurze Notiz"]
    german = json.loads(get(client, "/languages/de/feed.json"))
    assert german["language"] == "de" and all("language" not in item for item in german["items"])
    site = json.loads(get(client, "/feed.json"))
    assert [item.get("language") for item in site["items"]] == ["de", None, None]
    atom = feedcheck.parse(get(client, "/sections/notes/atom.xml"))
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    assert [e.get(lang) for e in atom.findall(f"{{{feedcheck.ATOM}}}entry")] == ["de", None]
    assert lxml_html.fromstring(get(client, "/posts/eine-kurze-notiz/")).get("lang") == "de"
    assert lxml_html.fromstring(get(client, "/posts/a-short-note/")).get("lang") == "en"


def test_a_site_in_one_language_has_no_language_feeds(make_app: object) -> None:
    client = make_app().test_client()  # type: ignore[operator]
    assert client.get("/languages/").status_code == 404 and client.get("/languages/en/feed.xml").status_code == 404


def crawl(client: FlaskClient) -> dict[str, bytes]:
    """Every feed document, from the OPML lists through prev-archive and next_url."""
    found: dict[str, bytes] = {}
    for opml in ("/feeds.opml", "/feeds-atom.opml", "/feeds-json.opml"):
        for outline in etree.fromstring(get(client, opml)).iter("outline"):
            url: str | None = outline.get("xmlUrl")
            while url:
                found[url] = get(client, url)
                url = json.loads(found[url]).get("next_url") if url.endswith(".json") else feedcheck.links(found[url]).get("prev-archive")
    return found


SUMMARY_ONLY = ("/tags/", "/sections/notes/")


def test_every_feed_passes_the_validator_rules_and_the_schema(client: FlaskClient) -> None:
    documents = crawl(client)
    assert len(documents) == 3 * (10 + 7)  # 10 current feeds, 7 archives, 3 formats each
    validator = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
    problems: list[str] = []
    for url, body in documents.items():
        current = url.split("/archive/")[0] + "/" + url.rsplit("/", 1)[1] if "/archive/" in url else url
        home = current.rsplit("/", 1)[0] + "/"
        full = not any(f"{SITE}{prefix}" in url for prefix in SUMMARY_ONLY)
        if url.endswith("feed.xml"):
            problems += feedcheck.rss(url, body, home=home, hubs=(), full=full)
        elif url.endswith("atom.xml"):
            problems += feedcheck.atom(url, body, home=home, hubs=(), feed_id=current, full=full)
        else:
            problems += [f"{url}: {e.message}" for e in validator.iter_errors(json.loads(body))]
    assert problems == []


def test_rss_names_every_author_with_dc_creator(client: FlaskClient) -> None:
    together = next(i for i in feedcheck.parse(get(client, "/feed.xml")).iter("item") if i.findtext("title") == "Written together")
    assert [c.text for c in together.findall(f"{{{feedcheck.DC}}}creator")] == ["Ana Lima", "Bo Chen"]
    assert together.find("author") is None


def test_redirects_answer_moved_and_removed_feeds(client: FlaskClient) -> None:
    for old, new in (("/old/feed.xml", f"{SITE}/feed.xml"), ("/older/feed.xml", f"{SITE}/feed.xml")):
        moved = client.get(old)
        assert (moved.status_code, moved.headers["Location"]) == (301, new)  # a chain is answered in one step
    assert client.get("/elsewhere/atom.xml").headers["Location"] == "https://feeds.example.org/atom.xml"
    gone = client.get("/tags/retired/feed.xml")
    assert gone.status_code == 410 and gone.headers["Content-Type"].startswith("text/plain")


def test_a_redirect_to_no_document_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text('[redirects]\n"/old.xml" = "/no/such/feed.xml"\n"/feed.xml" = "/atom.xml"\n', encoding="utf-8")
    app = create_app({"content_dir": str(SCOPES / "content"), "snapshot_dir": str(tmp_path / "snap")}, config_file=config, env={})
    try:
        health = app.test_client().get("/healthz").get_json()
        text = json.dumps(health)
        assert "redirects: /old.xml -> /no/such/feed.xml: no such document" in text
        assert "redirects: /feed.xml is a document of the site; the document is served" in text
        assert app.test_client().get("/feed.xml").status_code == 200
    finally:
        stop(app)


def test_post_page_is_an_h_entry_with_open_graph_and_the_feeds_it_is_in(client: FlaskClient) -> None:
    page = lxml_html.fromstring(get(client, "/posts/why-archives-stay-put/"))
    head = {m.get("property") or m.get("name"): m.get("content") for m in page.xpath("//head/meta[@content]")}
    assert head["og:title"] == "Why archives stay put" and head["og:type"] == "article"
    assert head["og:url"] == f"{SITE}/posts/why-archives-stay-put/" and head["og:image"].startswith(SITE)
    assert page.xpath("//head/link[@rel='canonical']/@href") == [f"{SITE}/posts/why-archives-stay-put/"]
    alternates = page.xpath("//head/link[@rel='alternate']/@href")
    assert alternates[:3] == [f"{SITE}/feed.xml", f"{SITE}/atom.xml", f"{SITE}/feed.json"]
    assert set(alternates[3:]) == {f"{SITE}/tags/feeds/feed.xml", f"{SITE}/tags/history/feed.xml"}
    entry = page.xpath("//*[contains(@class, 'h-entry')]")[0]

    def prop(name: str) -> list[lxml_html.HtmlElement]:
        return entry.xpath(f".//*[contains(concat(' ', @class, ' '), ' {name} ')]")

    assert prop("p-name")[0].text_content() == "Why archives stay put"
    assert prop("dt-published")[0].get("datetime") == "2026-04-01T00:00:00+00:00"
    assert prop("u-url")[0].get("href") == f"{SITE}/posts/why-archives-stay-put/"
    assert [a.text_content() for a in prop("p-category")] == ["Feeds", "History"]
    author = prop("p-author")[0]
    assert "h-card" in author.get("class") and author.text_content() == "Ana Lima"
    assert author.find("a").get("href") == f"{SITE}/authors/ana-lima/"
    content = prop("e-content")[0]
    assert content.xpath(".//a/@href") == [f"{SITE}/posts/a-short-note/"]  # links absolute, as in the feeds
    assert not page.xpath("//script") and not page.xpath("//@*[starts-with(name(), 'on')]")


def test_post_page_shows_the_attachment(client: FlaskClient) -> None:
    page = lxml_html.fromstring(get(client, "/posts/an-episode/"))
    assert page.xpath("//audio/@src") == [f"{SITE}/media/episode-1.mp3"]
    assert page.xpath("//a[@type='audio/mpeg']/@href") == [f"{SITE}/media/episode-1.mp3"]
