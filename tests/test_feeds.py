"""Every format, overall and per tag, read back through real HTTP by feedparser and the JSON Feed schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from .conftest import DATA, published
from .server import ServerProcess

SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _tags(site: ServerProcess) -> dict[str, int]:
    health = json.loads(site.request("/healthz").body)
    assert health["status"] == "ok"
    feed = json.loads(site.request("/feed.json").body)
    counts: dict[str, int] = {}
    for item in feed["items"]:
        for name in item.get("tags", []):
            counts[name] = counts.get(name, 0) + 1
    return counts


def _parse(site: ServerProcess, path: str) -> Any:
    reply = site.request(path)
    assert reply.status == 200, path
    parsed = feedparser.parse(reply.body)
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
    return parsed


@pytest.mark.parametrize("path", ["/feed.xml", "/atom.xml"])
def test_overall_xml_feeds_parse_with_every_item_field(site: ServerProcess, path: str) -> None:
    parsed = _parse(site, path)
    assert parsed.feed.title == "Test Notes"
    assert parsed.feed.link == site.base + "/"
    assert parsed.feed.language == "en" if path == "/feed.xml" else True
    assert len(parsed.entries) == 18
    first = parsed.entries[0]
    assert first.title == "Zero-Downtime Migrations: Where Bulk Load Meets CDC"
    assert first.link == site.base + "/posts/zero-downtime-migrations-where-bulk-load-meets-cdc/"
    assert first.id.startswith("tag:127.0.0.1,2026-05-10:")
    assert first.published_parsed[:3] == (2026, 5, 10)
    if path == "/atom.xml":  # RSS items have no update date
        assert first.updated_parsed[:3] == (2026, 5, 10)
    assert [t.term for t in first.tags] == ["Spanner", "Datastream", "Pub/Sub", "Dataflow", "Migration"]
    assert first.summary.startswith("A bulk migration takes hours")
    assert first.content[0].value.startswith("<p>")
    assert first.author == "Test Author" or "author@example.com" in first.author
    dates = [e.published_parsed for e in parsed.entries]
    assert dates == sorted(dates, reverse=True)


def test_overall_json_feed_is_valid_json_feed_1_1(site: ServerProcess) -> None:
    reply = site.request("/feed.json")
    assert reply.headers["content-type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(reply.body)
    VALIDATOR.validate(feed)
    assert feed["feed_url"] == site.base + "/feed.json"
    assert len(feed["items"]) == 18
    first = feed["items"][0]
    assert first["date_published"] == "2026-05-10T00:00:00+00:00"
    assert first["tags"] == ["Spanner", "Datastream", "Pub/Sub", "Dataflow", "Migration"]
    assert first["authors"] == [{"name": "Test Author"}]
    assert first["content_html"].startswith("<p>")


def test_every_tag_has_three_valid_feeds_with_the_right_items(site: ServerProcess) -> None:
    counts = _tags(site)
    assert counts["Go"] == 5
    listing = site.request("/tags/").body.decode()
    for name, count in counts.items():
        slug = {"Pub/Sub": "pub-sub", "SOC 2": "soc-2", "ISO 27001": "iso-27001"}.get(name, name.lower().replace(" ", "-"))
        assert f"/tags/{slug}/feed.xml" in listing
        for path in (f"/tags/{slug}/feed.xml", f"/tags/{slug}/atom.xml"):
            parsed = _parse(site, path)
            assert len(parsed.entries) == count, path
            assert all(name in [t.term for t in e.tags] for e in parsed.entries)
        feed = json.loads(site.request(f"/tags/{slug}/feed.json").body)
        VALIDATOR.validate(feed)
        assert len(feed["items"]) == count


def test_drafts_and_future_posts_are_not_published(site: ServerProcess) -> None:
    for path in ("/feed.xml", "/atom.xml", "/feed.json", "/", "/feeds.opml"):
        body = site.request(path).body.decode()
        assert "Cell-Based Architecture" not in body
        assert "One Year of Running Our Own Feed Service" not in body


def test_index_page_lists_the_feeds_with_autodiscovery(site: ServerProcess) -> None:
    reply = site.request("/")
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    page = reply.body.decode()
    alternates = (("application/rss+xml", "/feed.xml"), ("application/atom+xml", "/atom.xml"), ("application/feed+json", "/feed.json"))
    for media_type, path in alternates:
        assert f'<link rel="alternate" type="{media_type}"' in page
        assert f'href="{site.base}{path}"' in page


def test_same_content_gives_byte_identical_bodies_in_two_apps(content: Path, config_file: Path) -> None:
    from feeds.web.app import create_app, stop

    def bodies(folder: str) -> dict[str, bytes]:
        settings = {"content_dir": str(content), "snapshot_dir": str(content.parent / folder)}
        app: Flask = create_app(settings, config_file=config_file, env={})
        try:
            return published(app)
        finally:
            stop(app)

    first, second = bodies("one"), bodies("two")
    assert first == second
    assert len(first) > 100
