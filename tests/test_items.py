"""Item content in every format: media, absolute URLs, and identities that never change."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import feedparser
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from feeds.cli import main

from . import feedcheck

SITE = "http://127.0.0.1:8000"
PODCAST = "Security Is Infrastructure"
MP3 = "https://media.example.com/audio/security-is-infrastructure.mp3"

RAW_POST = """\
---
title: Links of every kind
date: 2026-06-01
slug: links
tags: [Links]
---
A [relative](../other-post/) link, a [root](/about/) link and ![an image](pics/a.png "A").

<figure><img src="pics/b.png" srcset="pics/b.png 1x, pics/b@2x.png 2x" alt="b">
<figcaption><a href='notes.html#x'>notes</a></figcaption></figure>
<p><a href="//cdn.example.com/lib.js">protocol-relative</a> <a href="mailto:me@example.com">mail</a>
<a href="https://example.org/abs">absolute</a> <a href="#section">fragment</a> <a href="?q=1">query</a></p>
<video src="clip.mp4" poster="poster.jpg"></video>
"""
POST_URL = f"{SITE}/posts/links/"
EXPECTED = [
    ('href="', f"{SITE}/posts/other-post/"),
    ('href="', f"{SITE}/about/"),
    ('src="', f"{POST_URL}pics/a.png"),
    ('src="', f"{POST_URL}pics/b.png"),
    ('srcset="', f"{POST_URL}pics/b.png 1x, {POST_URL}pics/b@2x.png 2x"),
    ('href="', f"{POST_URL}notes.html#x"),  # attributes come out double-quoted (sanitized HTML)
    ('href="', "http://cdn.example.com/lib.js"),
    ('href="', "mailto:me@example.com"),
    ('href="', "https://example.org/abs"),
    ('href="', f"{POST_URL}#section"),
    ('href="', f"{POST_URL}?q=1"),
    ('src="', f"{POST_URL}clip.mp4"),
    ('poster="', f"{POST_URL}poster.jpg"),
]


def contents(client: FlaskClient, title: str) -> dict[str, str]:
    """The full HTML of the item titled ``title`` in each format."""
    rss = next(e for e in feedparser.parse(client.get("/feed.xml").data).entries if e.title == title)
    atom = next(e for e in feedparser.parse(client.get("/atom.xml").data).entries if e.title == title)
    item = next(i for i in json.loads(client.get("/feed.json").data)["items"] if i["title"] == title)
    return {"rss": rss.content[0].value, "atom": atom.content[0].value, "json": item["content_html"]}


def raw_contents(client: FlaskClient, title: str) -> dict[str, str]:
    """The same, read without feedparser (which resolves relative URLs itself and would hide mistakes)."""
    rss = feedcheck.parse(client.get("/feed.xml").data)
    atom = feedcheck.parse(client.get("/atom.xml").data)
    ns = {"a": feedcheck.ATOM, "c": feedcheck.CONTENT}
    return {
        "rss": rss.xpath("//item[title=$t]/c:encoded/text()", t=title, namespaces=ns)[0],
        "atom": atom.xpath("//a:entry[a:title=$t]/a:content/text()", t=title, namespaces=ns)[0],
        "json": next(i for i in json.loads(client.get("/feed.json").data)["items"] if i["title"] == title)["content_html"],
    }


def test_every_url_in_a_post_is_absolute_in_every_format(make_app: Callable[..., Flask], content: Path) -> None:
    (content / "links.md").write_text(RAW_POST, encoding="utf-8")
    client = make_app().test_client()
    for fmt, html in raw_contents(client, "Links of every kind").items():
        for attribute, url in EXPECTED:
            assert attribute + url in html, (fmt, url)
        assert feedcheck.html_problems(fmt, html) == [], fmt
        assert "xml:base" not in client.get("/atom.xml").get_data(as_text=True)


def test_sample_posts_relative_links_and_images_are_absolute(client: FlaskClient) -> None:
    html = raw_contents(client, "Three Layers of Idempotency")
    for fmt, text in html.items():
        assert f'href="{SITE}/posts/designing-a-transaction-engine-that-never-loses-a-payment/"' in text, fmt
        assert f'src="{SITE}/static/img/idempotency-layers.svg"' in text, fmt
        assert not re.search(r'(href|src)="(?!https?:|mailto:)', text), fmt


def test_enclosure_in_every_format(client: FlaskClient) -> None:
    rss = feedcheck.parse(client.get("/feed.xml").data).xpath("//item[title=$t]/enclosure", t=PODCAST)
    assert [(e.get("url"), e.get("type"), e.get("length")) for e in rss] == [(MP3, "audio/mpeg", "18734522")]
    atom = feedparser.parse(client.get("/atom.xml").data)
    entry = next(e for e in atom.entries if e.title == PODCAST)
    assert [(link.href, link.type, link.length) for link in entry.links if link.rel == "enclosure"] == [(MP3, "audio/mpeg", "18734522")]
    assert [link.href for link in entry.links if link.rel == "alternate"] == [f"{SITE}/posts/security-is-infrastructure/"]
    item = next(i for i in json.loads(client.get("/feed.json").data)["items"] if i["title"] == PODCAST)
    assert item["attachments"] == [{"url": MP3, "mime_type": "audio/mpeg", "size_in_bytes": 18734522}]


def test_image_in_every_format_is_absolute(client: FlaskClient) -> None:
    image = f"{SITE}/static/img/cdc-cutover.svg"
    title = "Zero-Downtime Migrations: Where Bulk Load Meets CDC"
    media = {"m": feedcheck.MEDIA, "a": feedcheck.ATOM}
    for path, xpath in (("/feed.xml", "//item[title=$t]"), ("/atom.xml", "//a:entry[a:title=$t]")):
        item = feedcheck.parse(client.get(path).data).xpath(xpath, t=title, namespaces=media)[0]
        assert item.xpath("m:content/@url", namespaces=media) == [image]
        assert item.xpath("m:content/@medium", namespaces=media) == ["image"]
        assert item.xpath("m:thumbnail/@url", namespaces=media) == [image]
    item = next(i for i in json.loads(client.get("/feed.json").data)["items"] if i["title"] == title)
    assert item["image"] == item["banner_image"] == image
    # Feeds without any image do not declare the media namespace.
    assert b"search.yahoo.com/mrss" not in client.get("/tags/security/feed.xml").data


def ids(client: FlaskClient) -> dict[str, set[str]]:
    return {
        "rss": {e.id for e in feedparser.parse(client.get("/feed.xml").data).entries},
        "atom": {e.id for e in feedparser.parse(client.get("/atom.xml").data).entries},
        "json": {i["id"] for i in json.loads(client.get("/feed.json").data)["items"]},
    }


def test_ids_survive_edits(make_app: Callable[..., Flask], content: Path) -> None:
    app = make_app()
    before = ids(app.test_client())
    post = content / "2026-05-05-fewer-services-tighter-contracts-how-picnic-cut-graphql-latency.md"
    text = post.read_text(encoding="utf-8")
    post.write_text(text.replace('title: "', 'title: "Edited: ', 1) + "\nAn added paragraph.\n", encoding="utf-8")
    assert app.extensions["feeds"].builder.rescan()
    assert ids(app.test_client()) == before
    assert b"Edited: " in app.test_client().get("/feed.xml").data


def test_ids_survive_a_rename_when_front_matter_has_an_id(make_app: Callable[..., Flask], content: Path) -> None:
    post = content / "2026-05-06-shipping-azure-service-operator-across-vendor-lines.md"
    post.write_text(post.read_text(encoding="utf-8").replace("---\n", "---\nid: urn:uuid:8d0e2b9e-2f7a-4a51-9a55-0c1f4f6b3a10\n", 1))
    app = make_app()
    before = ids(app.test_client())
    assert "urn:uuid:8d0e2b9e-2f7a-4a51-9a55-0c1f4f6b3a10" in before["atom"]
    post.rename(content / "2026-05-06-aso-across-vendors.md")
    assert app.extensions["feeds"].builder.rescan()
    assert ids(app.test_client()) == before
    assert f"{SITE}/posts/aso-across-vendors/".encode() in app.test_client().get("/feed.xml").data


def test_duplicate_ids_are_reported_and_resolved_deterministically(make_app: Callable[..., Flask], content: Path) -> None:
    older = "---\ntitle: Older\ndate: 2026-06-01\nid: tag:example.com,2026:same\n---\nOlder.\n"
    newer = "---\ntitle: Newer\ndate: 2026-06-02\nid: tag:example.com,2026:same\n---\nNewer.\n"
    # File names sort the other way round from the dates: the earlier post still wins.
    (content / "a-newer.md").write_text(newer, encoding="utf-8")
    (content / "z-older.md").write_text(older, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--content", str(content)])
    assert result.exit_code == 1
    assert "a-newer.md:1: duplicate id: z-older.md already publishes it" in result.output
    for _ in range(2):
        body = make_app().test_client().get("/feed.json").get_data(as_text=True)
        assert '"title": "Older"' in body and '"title": "Newer"' not in body


def test_authors_without_email_become_dc_creator_and_the_feed_stays_valid(make_app: Callable[..., Flask], content: Path) -> None:
    (content / "2026-06-03-pair.md").write_text(
        "---\ntitle: Pair\ndate: 2026-06-03\nauthors: [Ada, {name: Grace, email: grace@example.com}]\n---\nTwo authors.\n", encoding="utf-8"
    )
    client = make_app(author={"name": "Solo Writer"}, language="en-GB").test_client()
    body = client.get("/feed.xml").data
    assert feedcheck.rss(f"{SITE}/feed.xml", body, home=f"{SITE}/", hubs=()) == []
    root = feedcheck.parse(body)
    dc = {"dc": feedcheck.DC}
    assert root.xpath("//item[title='Pair']/dc:creator/text()", namespaces=dc) == ["Ada", "Grace"]
    assert root.xpath("//item[title='Pair']/author") == []
    assert root.xpath("//item/author") == [] and len(root.xpath("//item/dc:creator", namespaces=dc)) == 18 + 2
    assert root.findtext("channel/language") == "en-GB"
    atom = client.get("/atom.xml").data
    assert feedcheck.atom(f"{SITE}/atom.xml", atom, home=f"{SITE}/", hubs=(), feed_id=f"{SITE}/atom.xml") == []
    assert feedcheck.parse(atom).get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    assert json.loads(client.get("/feed.json").data)["language"] == "en-GB"


def test_plain_text_summaries_are_escaped_where_the_format_says_html(client: FlaskClient) -> None:
    title = "OpenTelemetry in airshipit: Tracing Code You Didn't Write"
    rss = feedcheck.parse(client.get("/feed.xml").data).xpath("//item[title=$t]/description/text()", t=title)[0]
    assert "AT&amp;T" in rss  # the HTML of the text "AT&T" (validator NotHtml otherwise)
    for path in ("/feed.xml", "/atom.xml"):
        # Readers get HTML that renders as "AT&T" (not the broken "AT&T" as HTML source).
        entry = next(e for e in feedparser.parse(client.get(path).data).entries if e.title == title)
        assert entry.summary_detail.type == "text/html" and "AT&amp;T, Microsoft" in entry.summary, path
    item = next(i for i in json.loads(client.get("/feed.json").data)["items"] if i["title"] == title)
    assert "AT&T, Microsoft" in item["summary"]  # JSON Feed summary is plain text
