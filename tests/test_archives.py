"""RFC 5005 §4 archives numbered from the oldest: an aggregator can walk every post of every scope, and archives stay put.

With N posts per feed and a scope's posts in oldest-first order, archive k holds
posts [(k-1)N, kN); only full chunks are archives; the current feed holds the
newest N. https://www.rfc-editor.org/rfc/rfc5005#section-4
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient

from . import feedcheck
from .conftest import published

SITE = "http://127.0.0.1:8000"
PER_FEED = 4  # 18 sample posts: archives 1-4 (16 posts), the current feed the newest 4


@pytest.fixture
def archived(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(items_per_feed=PER_FEED).test_client()


def scopes(client: FlaskClient) -> list[str]:
    outlines = feedcheck.parse(client.get("/feeds.opml").data).iter("outline")
    return [o.get("xmlUrl").removeprefix(SITE).removesuffix("feed.xml") for o in outlines]


def walk(client: FlaskClient, url: str) -> tuple[list[str], list[bytes]]:
    """Follow ``prev-archive`` links (``next_url`` in JSON) from ``url``; return the item ids in order and every document."""
    ids: list[str] = []
    bodies: list[bytes] = []
    while url:
        response = client.get(url.removeprefix(SITE))
        assert response.status_code == 200, url
        bodies.append(response.data)
        if url.split("?")[0].endswith(".json"):
            feed = json.loads(response.data)
            ids += [item["id"] for item in feed["items"]]
            url = feed.get("next_url", "")
        else:
            ids += [entry.id for entry in feedparser.parse(response.data).entries]
            url = feedcheck.links(response.data).get("prev-archive", "")
    return ids, bodies


def test_walking_every_scope_collects_every_post_in_every_format(archived: FlaskClient) -> None:
    everything, bodies = walk(archived, SITE + "/feed.xml")
    assert len(bodies) == 1 + 18 // PER_FEED and set(everything) == {e.id for b in bodies for e in feedparser.parse(b).entries}
    assert len(set(everything)) == 18
    for prefix in scopes(archived):
        rss_ids, _ = walk(archived, SITE + prefix + "feed.xml")
        for filename in ("atom.xml", "feed.json"):
            assert walk(archived, SITE + prefix + filename)[0] == rss_ids, prefix + filename


def test_archives_partition_the_posts_oldest_first(archived: FlaskClient) -> None:
    current = json.loads(archived.get("/feed.json").data)
    archives = [json.loads(archived.get(f"/archive/{k}/feed.json").data) for k in range(1, 5)]
    assert archived.get("/archive/5/feed.json").status_code == 404  # 18 posts: the fifth chunk is not full
    ids = [item["id"] for archive in archives for item in reversed(archive["items"])]
    assert len(ids) == len(set(ids)) == 16 and all(len(a["items"]) == PER_FEED for a in archives)
    dates = [item["date_published"] for archive in archives for item in reversed(archive["items"])]
    assert dates == sorted(dates)  # archive 1 holds the oldest posts
    # The current feed holds the newest N: the two posts of the incomplete chunk and two of archive 4.
    assert [i["id"] for i in current["items"]][2:] == [i["id"] for i in archives[3]["items"]][:2]
    assert current["next_url"] == f"{SITE}/archive/4/feed.json"
    assert [a.get("next_url") for a in archives] == [None, *(f"{SITE}/archive/{k}/feed.json" for k in range(1, 4))]


@pytest.mark.parametrize("filename", ["feed.xml", "atom.xml"])
def test_archive_links_follow_rfc5005(archived: FlaskClient, filename: str) -> None:
    def archive(k: int) -> str:
        return f"{SITE}/archive/{k}/{filename}"

    current = feedcheck.links(archived.get(f"/{filename}").data)
    assert current["prev-archive"] == archive(4) and not {"current", "next-archive", "next", "first"} & set(current)
    middle = feedcheck.links(archived.get(f"/archive/2/{filename}").data)
    assert (middle["self"], middle["current"], middle["prev-archive"], middle["next-archive"]) == (
        archive(2),
        f"{SITE}/{filename}",
        archive(1),
        archive(3),
    )
    oldest = feedcheck.links(archived.get(f"/archive/1/{filename}").data)
    assert "prev-archive" not in oldest and oldest["next-archive"] == archive(2)
    newest = feedcheck.links(archived.get(f"/archive/4/{filename}").data)
    assert "next-archive" not in newest  # until archive 5 fills
    root = feedcheck.parse(archived.get(f"/archive/4/{filename}").data)
    assert root.find(f".//{{{feedcheck.FH}}}archive") is not None
    assert feedcheck.parse(archived.get(f"/{filename}").data).find(f".//{{{feedcheck.FH}}}archive") is None


def test_a_new_post_changes_no_archive_until_a_chunk_fills(make_app: Callable[..., Flask], content: Path) -> None:
    """The documents a new post changes: current feeds and pages; one new archive per scope when its chunk fills."""
    app = make_app(items_per_feed=PER_FEED)
    before = published(app)
    for number in (1, 2):
        (content / f"2026-05-2{number}-new-{number}.md").write_text(f"---\ntitle: New {number}\n---\nBody {number}.\n")
        app.extensions["feeds"].builder.rescan()
        app.extensions["feeds"].builder.complete()  # (the archive pages a change touched come right after its page 1s)
    after = published(app)
    archives = {path for path in before if "/archive/" in path}
    # 20 posts in the site's feeds now: archive 5 exists, and archive 4 gained its next-archive link (JSON Feed links
    # only to older documents); no other archive changed. The site author's feeds hold the podcast section's 3 posts
    # too: 23 posts there, still 5 full archives, none of them changed.
    changed = {path for path in archives if before[path] != after[path]}
    fourth = ("/archive/4/", "/_views/archive/4/")
    assert changed == {p for p in archives if p.startswith(fourth) and not p.endswith(".json")}
    assert "/archive/5/feed.xml" in after and "/archive/5/feed.xml" not in before
    assert feedcheck.links(after["/archive/4/atom.xml"])["next-archive"] == f"{SITE}/archive/5/atom.xml"


def test_full_archives_with_a_successor_are_cached_long(archived: FlaskClient) -> None:
    assert archived.get("/archive/3/feed.xml").headers["Cache-Control"] == "public, max-age=86400"
    assert archived.get("/archive/4/feed.xml").headers["Cache-Control"] == "public, max-age=60"  # its successor may come
    assert archived.get("/feed.xml").headers["Cache-Control"] == "public, max-age=60"


def test_a_feed_that_fits_one_document_has_no_archive_links(client: FlaskClient) -> None:
    links = feedcheck.links(client.get("/atom.xml").data)
    assert not set(feedcheck.RSS_PAGING) & set(links)
    assert "next_url" not in json.loads(client.get("/feed.json").data)


def test_old_page_one_is_the_current_feed_for_good(archived: FlaskClient) -> None:
    for prefix, filename in (("/", "feed.xml"), ("/", "atom.xml"), ("/", "feed.json"), ("/tags/go/", "feed.xml")):
        for other in (f"{prefix}{filename}?page=1", f"{prefix}page/1/{filename}"):
            moved = archived.get(other)
            assert (moved.status_code, moved.headers["Location"]) == (301, f"{SITE}{prefix}{filename}")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # Pages were numbered from the newest: page 2 of 4-post pages showed posts 5-8 from the newest (of 18):
        # its newest post is the 14th oldest, in archive 4 (posts 13-16).
        ("/page/2/feed.xml", "/archive/4/feed.xml"),
        ("/page/3/atom.xml", "/archive/3/atom.xml"),
        ("/page/5/feed.json", "/archive/1/feed.json"),  # posts 17-18 from the newest: the 2 oldest
        ("/feed.xml?page=4", "/archive/2/feed.xml"),
    ],
)
def test_old_page_urls_move_to_the_archive_holding_their_newest_post(archived: FlaskClient, old: str, new: str) -> None:
    moved = archived.get(old)
    assert (moved.status_code, moved.headers["Location"]) == (302, SITE + new)
    newest_then = json.loads(archived.get("/feed.json").data)["items"]  # page 1 of the old numbering
    assert newest_then  # and the target answers
    assert archived.get(new).status_code == 200


def test_an_old_page_newer_than_every_archive_moves_to_the_current_feed(make_app: Callable[..., Flask]) -> None:
    client = make_app(items_per_feed=5).test_client()  # 18 posts: archives 1-3 (15), the newest 3 in no archive
    # Old page 2 showed posts 6-10 from the newest; its newest is the 13th oldest, in archive 3.
    assert client.get("/page/2/feed.xml").headers["Location"] == f"{SITE}/archive/3/feed.xml"
    client = make_app(items_per_feed=7).test_client()  # archives 1-2 (14 posts); page 2 = posts 8-14 from the newest
    # Its newest post is the 11th oldest: archive 2. Page 3 (posts 15-18 from the newest) starts at the 4th oldest.
    assert client.get("/page/3/feed.xml").headers["Location"] == f"{SITE}/archive/1/feed.xml"


@pytest.mark.parametrize(
    "path", ["/page/0/feed.xml", "/page/01/feed.xml", "/page/6/feed.xml", "/page/x/feed.xml", "/page/2/nope.xml", "/archive/0/feed.xml"]
)
def test_bad_page_and_archive_paths_are_not_found(archived: FlaskClient, path: str) -> None:
    response = archived.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("query", "status"),
    [("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("", 400), ("6", 404), ("99999999999999999999", 404)],
)
def test_bad_or_out_of_range_pages_are_client_errors(archived: FlaskClient, query: str, status: int) -> None:
    response = archived.get(f"/feed.xml?page={query}")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")
