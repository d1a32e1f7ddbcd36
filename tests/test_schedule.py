"""The scheduled rescan picks up added, edited and deleted posts without a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import feedparser

from .server import ServerProcess
from .waiting import wait_until


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    wait_until(condition, timeout, "the rescan to show the change")


def _titles(server: ServerProcess, path: str) -> list[str]:
    return [e.title for e in feedparser.parse(server.request(path).body).entries]


def test_rescan_picks_up_added_edited_and_deleted_posts(content: Path, config_file: Path) -> None:
    with ServerProcess(content, config_file, env={"FEEDS_SCAN_INTERVAL": "1"}) as server:
        before = server.request("/tags/go/atom.xml")
        unchanged = server.request("/tags/azure/atom.xml").headers["etag"]

        (content / "2026-06-01-new-go-post.md").write_text("---\ntitle: A New Go Post\ntags: [Go, Brand New]\n---\nHello.\n")
        _wait_for(lambda: "A New Go Post" in _titles(server, "/atom.xml"))
        assert _titles(server, "/tags/go/atom.xml")[0] == "A New Go Post"
        assert _titles(server, "/tags/brand-new/feed.xml") == ["A New Go Post"]
        assert server.request("/tags/go/atom.xml").headers["etag"] != before.headers["etag"]
        assert server.request("/tags/azure/atom.xml").headers["etag"] == unchanged

        edited = next(content.glob("2026-05-02-*.md"))
        text = edited.read_text()
        edited.write_text(text.replace('title: "Three Layers of Idempotency"', 'title: "Three Layers of Idempotency, Revisited"'))
        _wait_for(lambda: "Three Layers of Idempotency, Revisited" in _titles(server, "/feed.xml"))
        assert "Three Layers of Idempotency, Revisited" in _titles(server, "/tags/payments/feed.xml")

        (content / "2026-06-01-new-go-post.md").unlink()
        _wait_for(lambda: server.request("/tags/brand-new/feed.xml").status == 404)
        assert "A New Go Post" not in _titles(server, "/feed.xml")
        assert json.loads(server.request("/healthz").body)["posts"] == 21  # 18 in the site's feeds, 3 in the podcast section


def test_unchanged_content_keeps_its_etags_across_rescans(content: Path, config_file: Path) -> None:
    with ServerProcess(content, config_file, env={"FEEDS_SCAN_INTERVAL": "1"}) as server:
        etag = server.request("/feed.xml").headers["etag"]
        first_scan = json.loads(server.request("/healthz").body)["last_scan"]
        _wait_for(lambda: json.loads(server.request("/healthz").body)["last_scan"] != first_scan)
        assert server.request("/feed.xml").headers["etag"] == etag


def test_a_broken_file_is_reported_and_the_other_posts_still_publish(content: Path, config_file: Path) -> None:
    (content / "2026-06-02-broken.md").write_text("---\ntitle: [oops\n---\nbody\n")
    with ServerProcess(content, config_file) as server:
        health = json.loads(server.request("/healthz").body)
        assert health["posts"] == 21
        assert any(p.startswith("2026-06-02-broken.md:2: invalid YAML") for p in health["problems"])
        assert len(_titles(server, "/feed.xml")) == 18
        # Logged by the builder right after the publish that left the file out (this request may be answered first).
        wait_until(
            lambda: "2026-06-02-broken.md:2: invalid YAML" in server.log.read_text(),
            10.0,
            "the problem logged",
            detail=server.log.read_text,
        )
