"""The fediverse's snapshot documents: Articles negotiated at post URLs, outboxes paged like archives, who a post is for.

Served by the app in this process (the documents need no remote server); the
exchange with a real peer is in test_fediverse_peer.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

SITE = "http://127.0.0.1:8000"
AS = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def fedi(make_app: Callable[..., Flask], tmp_path: Path) -> Callable[..., FlaskClient]:
    def factory(**overrides: Any) -> FlaskClient:
        settings = {"fediverse": True, "database_url": f"sqlite:///{tmp_path / 'feeds.db'}", "rebuild_token": "t"}
        return make_app(**{**settings, **overrides}).test_client()

    return factory


def _post_paths(client: FlaskClient) -> list[str]:
    """Every post page's path, from the site's JSON Feed (newest first)."""
    items = client.get("/feed.json").get_json()["items"]
    return [item["url"][len(SITE) :] for item in items]


@pytest.mark.parametrize("permalink", ["/posts/{slug}/", "/{year}/{month}/{slug}.html"])
def test_a_post_url_answers_its_article_to_activitystreams_clients_and_its_page_to_everyone_else(
    fedi: Callable[..., FlaskClient], permalink: str
) -> None:
    client = fedi(permalink=permalink)
    path = _post_paths(client)[0]
    page = client.get(path, headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.mimetype == "text/html" and "Accept" in page.headers["Vary"]
    alternate = re.search(r'<link rel="alternate" type="application/activity\+json" href="([^"]+)">', page.get_data(as_text=True))
    assert alternate is not None and alternate[1].startswith(SITE + "/ap/objects/")
    for accept in (AS, LD, f"{AS}, text/html;q=0.5"):
        answer = client.get(path, headers={"Accept": accept})
        assert answer.status_code == 200 and answer.mimetype == AS and "Accept" in answer.headers["Vary"], accept
        article = answer.get_json()
        assert article["type"] == "Article" and article["id"] == alternate[1] and article["url"] == SITE + path
    by_id = client.get(alternate[1][len(SITE) :], headers={"Accept": AS})
    assert by_id.get_data() == answer.get_data() and by_id.headers["ETag"] == answer.headers["ETag"]  # one document, two paths
    conditional = client.get(path, headers={"Accept": AS, "If-None-Match": answer.headers["ETag"]})
    assert conditional.status_code == 304
    assert client.get(path, headers={"Accept": "*/*"}).mimetype == "text/html"  # a wildcard is not a request for ActivityStreams
    assert client.get("/tags/", headers={"Accept": AS}).mimetype == "text/html"  # only posts have an Article
    assert client.get("/_activity" + path).status_code == 404  # the stored copy is not a URL of its own


def test_without_the_fediverse_post_pages_neither_vary_nor_link_an_article(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    path = _post_paths(client)[0]
    answer = client.get(path, headers={"Accept": AS})
    assert answer.mimetype == "text/html" and answer.headers["Vary"] == "Accept-Encoding"
    assert "application/activity+json" not in answer.get_data(as_text=True)


def _walk(client: FlaskClient, account: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An outbox and its pages, followed from ``first`` through ``next`` as a fediverse server reads it."""
    outbox = client.get(account + "/outbox").get_json()
    pages = []
    url = outbox.get("first")
    while url:
        pages.append(client.get(url[len(SITE) :]).get_json())
        url = pages[-1].get("next")
    return outbox, pages


def test_outboxes_are_paged_newest_first_like_the_archives_and_an_old_page_keeps_its_bytes(
    fedi: Callable[..., FlaskClient], content: Path
) -> None:
    client = fedi(items_per_feed=5)
    outbox, pages = _walk(client, "/ap/site")
    newest_first = [item["object"]["url"][len(SITE) :] for page in pages for item in page["orderedItems"]]
    assert newest_first == _post_paths(client) + _archived(client) and len(newest_first) == outbox["totalItems"] == 18
    assert [len(page["orderedItems"]) for page in pages] == [3, 5, 5, 5]  # 18 posts: 3 full pages and the newest, like 3 archives
    assert outbox["first"].endswith("/outbox/page/4") and outbox["last"].endswith("/outbox/page/1")
    items = [item for page in pages for item in page["orderedItems"]]
    assert all(item["type"] == "Create" and item["id"] == item["object"]["id"] + "#create" for item in items)
    assert "prev" not in pages[0] and pages[1]["prev"] == pages[0]["id"]
    old = client.get("/ap/site/outbox/page/2")
    (content / "2026-11-30-later.md").write_text("---\ntitle: Later\ndate: 2026-11-30\n---\nBody.\n", encoding="utf-8")
    assert client.post("/-/rebuild", headers={"Authorization": "Bearer t"}).status_code in (200, 202)
    assert client.get("/ap/site/outbox").get_json()["totalItems"] == 19
    assert client.get("/ap/site/outbox/page/2").get_data() == old.get_data()  # posts stay on their page for good
    go = client.get("/ap/tags/go/outbox").get_json()
    tagged = client.get(go["first"][len(SITE) :]).get_json()["orderedItems"]
    assert tagged and all(item["type"] == "Announce" and item["actor"] == SITE + "/ap/tags/go" for item in tagged)


def _archived(client: FlaskClient) -> list[str]:
    """The site's posts that are only in its archives (newest first), as a reader walks prev-archive."""
    seen = set(_post_paths(client))
    out: list[str] = []
    url = client.get("/feed.json").get_json().get("next_url")
    while url:
        feed = client.get(url[len(SITE) :]).get_json()
        out += [item["url"][len(SITE) :] for item in feed["items"] if item["url"][len(SITE) :] not in seen]
        seen.update(item["url"][len(SITE) :] for item in feed["items"])
        url = feed.get("next_url")
    return out


def test_a_post_kept_out_of_the_site_feeds_is_not_addressed_to_the_sites_followers(
    fedi: Callable[..., FlaskClient], content: Path, config_file: Path
) -> None:
    (content / "notes").mkdir()
    aside = "---\ntitle: Aside\ndate: 2026-05-30\ntags: [Go]\n---\nBody.\n"
    (content / "notes" / "2026-05-30-aside.md").write_text(aside, encoding="utf-8")
    (content / "notes" / "2026-05-31-hidden.md").write_text(
        "---\ntitle: Hidden\ndate: 2026-05-31\nfeed: false\n---\nBody.\n", encoding="utf-8"
    )
    config_file.write_text(config_file.read_text(encoding="utf-8") + "\n[sections.notes]\nsite_feeds = false\n", encoding="utf-8")
    client = fedi()
    article = client.get("/posts/aside/", headers={"Accept": AS}).get_json()
    assert article["cc"] == [] and article["tag"][0]["name"] == "#Go"  # its tag's account boosts it
    outbox, pages = _walk(client, "/ap/site")
    assert article["id"] not in json.dumps(pages)
    assert article["id"] in client.get(client.get("/ap/tags/go/outbox").get_json()["first"][len(SITE) :]).get_data(as_text=True)
    hidden = client.get("/posts/hidden/", headers={"Accept": AS})
    assert hidden.mimetype == "text/html" and "application/activity+json" not in hidden.get_data(as_text=True)  # feed: false


def test_the_fediverse_documents_stay_out_of_exports_and_buckets(fedi: Callable[..., FlaskClient]) -> None:
    from feeds.snapshot.export import exported

    client = fedi()
    manifest = client.application.extensions["feeds"].current
    assert any(path.startswith("/_activity/ap/objects/") for path in manifest.items)
    assert [item.path for item in exported(manifest) if item.path.startswith("/_activity")] == []
    assert any(item.path.startswith("/posts/") for item in exported(manifest))  # whose pages name the Article under /ap/
