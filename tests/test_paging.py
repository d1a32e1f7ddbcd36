"""RFC 5005 §3 paging: an aggregator can walk every post of every scope, once each."""

from __future__ import annotations

import json
from collections.abc import Callable

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient

from . import feedcheck

SITE = "http://127.0.0.1:8000"
PER_PAGE = 3


@pytest.fixture
def paged(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(items_per_feed=PER_PAGE).test_client()


def scopes(client: FlaskClient) -> list[str]:
    outlines = feedcheck.parse(client.get("/feeds.opml").data).iter("outline")
    return [o.get("xmlUrl").removeprefix(SITE).removesuffix("feed.xml") for o in outlines]


def walk(client: FlaskClient, url: str) -> tuple[list[str], list[bytes]]:
    """Follow next links from ``url``; return the item ids in order and every page's bytes."""
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
            url = feedcheck.links(response.data).get("next", "")
    return ids, bodies


def test_walking_every_page_of_every_scope_collects_every_post_once(paged: FlaskClient) -> None:
    everything, _ = walk(paged, SITE + "/feed.xml")
    assert len(everything) == len(set(everything)) == 18
    tagged: dict[str, set[str]] = {}
    for entry in (e for page in walk(paged, SITE + "/atom.xml")[1] for e in feedparser.parse(page).entries):
        for tag in entry.tags:
            tagged.setdefault(tag.term, set()).add(entry.id)
    assert len(scopes(paged)) == len(tagged) + 1
    for prefix in scopes(paged):
        rss_ids, bodies = walk(paged, SITE + prefix + "feed.xml")
        assert len(rss_ids) == len(set(rss_ids)), f"{prefix} repeats an item"
        if prefix == "/":
            assert rss_ids == everything
        else:
            assert set(rss_ids) == tagged[feedparser.parse(bodies[0]).feed.title.split(": ", 1)[1]], prefix
        for filename in ("atom.xml", "feed.json"):
            assert walk(paged, SITE + prefix + filename)[0] == rss_ids, prefix + filename


def test_every_page_but_the_last_is_full_and_newest_comes_first(paged: FlaskClient) -> None:
    pages = walk(paged, SITE + "/feed.json")[1]
    assert len(pages) == 6
    dates = [item["date_published"] for page in pages for item in json.loads(page)["items"]]
    assert dates == sorted(dates, reverse=True)
    assert all(len(json.loads(page)["items"]) == PER_PAGE for page in pages[:-1])


@pytest.mark.parametrize("filename", ["feed.xml", "atom.xml"])
def test_paging_links_follow_rfc5005(paged: FlaskClient, filename: str) -> None:
    url = f"{SITE}/{filename}"

    def page(n: int) -> str:
        return f"{SITE}/page/{n}/{filename}"

    first = feedcheck.links(paged.get(f"/{filename}").data)
    assert (first["first"], first["last"], first["next"]) == (url, page(6), page(2))
    assert "previous" not in first
    middle = feedcheck.links(paged.get(f"/page/3/{filename}").data)
    assert (middle["self"], middle["previous"], middle["next"]) == (page(3), page(2), page(4))
    last = feedcheck.links(paged.get(f"/page/6/{filename}").data)
    assert last["previous"] == page(5) and "next" not in last


def test_a_feed_that_fits_one_page_has_no_paging_links(client: FlaskClient) -> None:
    links = feedcheck.links(client.get("/atom.xml").data)
    assert not {"first", "last", "previous", "next"} & set(links)
    assert "next_url" not in json.loads(client.get("/feed.json").data)


def test_page_one_is_the_plain_feed(paged: FlaskClient) -> None:
    for prefix, filename in (("/", "feed.xml"), ("/", "atom.xml"), ("/", "feed.json"), ("/tags/go/", "feed.xml")):
        for other in (f"{prefix}{filename}?page=1", f"{prefix}page/1/{filename}"):
            moved = paged.get(other)
            assert (moved.status_code, moved.headers["Location"]) == (301, f"{SITE}{prefix}{filename}")


def test_query_pages_of_older_links_move_to_the_page_path(paged: FlaskClient) -> None:
    """Older pages live at a path (a static host or an object store serves them as they are); ?page=N still works."""
    for old, new in (("/feed.xml?page=2", "/page/2/feed.xml"), ("/tags/go/atom.xml?page=1", "/tags/go/atom.xml")):
        moved = paged.get(old)
        assert (moved.status_code, moved.headers["Location"]) == (301, SITE + new)
    assert paged.get("/page/2/feed.xml").status_code == 200


@pytest.mark.parametrize("path", ["/page/0/feed.xml", "/page/01/feed.xml", "/page/7/feed.xml", "/page/x/feed.xml", "/page/2/nope.xml"])
def test_bad_page_paths_are_not_found(paged: FlaskClient, path: str) -> None:
    response = paged.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("query", "status"),
    [("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("", 400), ("7", 404), ("99999999999999999999", 404)],
)
def test_bad_or_out_of_range_pages_are_client_errors(paged: FlaskClient, query: str, status: int) -> None:
    response = paged.get(f"/feed.xml?page={query}")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")
