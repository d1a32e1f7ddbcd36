"""WebSub: discovery in documents and headers, and publish pings to a hub we run on 127.0.0.1."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.service.websub import Publisher
from feeds.web.app import stop

from .waiting import wait_until

SITE = "http://127.0.0.1:8000"
FORMATS = ("feed.xml", "atom.xml", "feed.json")
POST = "2026-05-02-three-layers-of-idempotency.md"
POST_TAGS = ("idempotency", "distributed-systems", "payments", "go")


class Hub:
    """A WebSub hub stand-in: records each publish ping; can fail the first N with 500."""

    def __init__(self) -> None:
        self.pings: list[dict[str, list[str]]] = []
        self.fail_first = 0
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("ascii"))
                with hub.lock:
                    failing = hub.fail_first > 0
                    hub.fail_first -= failing
                    hub.pings.append({**form, "_status": ["500" if failing else "204"], "_type": [self.headers["Content-Type"]]})
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def topics(self, status: str = "204") -> list[str]:
        with self.lock:
            return [p["hub.url"][0] for p in self.pings if p["_status"] == [status]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    running = Hub()
    yield running
    running.close()


@pytest.fixture
def hub_app(make_app: Callable[..., Flask], hub: Hub) -> Flask:
    app = make_app(websub_hubs=[hub.url])
    app.extensions["feeds.publisher"].backoff = 0.01  # retries in milliseconds, not seconds
    return app


def publisher(app: Flask) -> Publisher:
    found: Publisher = app.extensions["feeds.publisher"]
    return found


def test_feeds_announce_the_hub_in_documents_and_headers(hub_app: Flask, hub: Hub, make_app: Callable[..., Flask]) -> None:
    client = hub_app.test_client()
    for path in ("/feed.xml", "/atom.xml", "/feed.json", "/tags/go/atom.xml"):
        response = client.get(path)
        assert response.headers["Link"] == f'<{hub.url}>; rel="hub", <{SITE}{path}>; rel="self"'
        assert hub.url.encode() in response.data
    paged = make_app(websub_hubs=[hub.url], items_per_feed=5).test_client()
    assert paged.get("/archive/2/atom.xml").headers["Link"].endswith(f'<{SITE}/archive/2/atom.xml>; rel="self"')


def test_without_hubs_only_self_is_linked(client: FlaskClient) -> None:
    assert client.get("/atom.xml").headers["Link"] == f'<{SITE}/atom.xml>; rel="self"'
    assert b'rel="hub"' not in client.get("/atom.xml").data


def test_start_up_pings_nothing(hub_app: Flask, hub: Hub) -> None:
    assert publisher(hub_app).wait_idle(5)
    assert hub.pings == []


def test_an_edited_post_pings_exactly_the_feeds_that_changed(hub_app: Flask, hub: Hub, content: Path) -> None:
    post = content / POST
    post.write_text(post.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    assert hub_app.extensions["feeds"].builder.rescan()
    assert publisher(hub_app).wait_idle(10)
    scopes = ["/", "/authors/test-author/", *(f"/tags/{tag}/" for tag in POST_TAGS)]  # the post's scopes
    expected = {f"{SITE}{prefix}{name}" for prefix in scopes for name in FORMATS}
    assert sorted(hub.topics()) == sorted(expected)  # each once: no archive, no HTML, no other tag
    assert all(p["hub.mode"] == ["publish"] and p["_type"] == ["application/x-www-form-urlencoded"] for p in hub.pings)


def test_an_unchanged_rescan_pings_nothing(hub_app: Flask, hub: Hub) -> None:
    assert not hub_app.extensions["feeds"].builder.rescan()
    assert not hub_app.extensions["feeds"].builder.rescan(force=True)  # rebuilt: the same bytes, nothing to publish
    assert publisher(hub_app).wait_idle(5)
    assert hub.pings == []


def test_a_failing_hub_is_retried_with_backoff(hub_app: Flask, hub: Hub, content: Path) -> None:
    hub.fail_first = 2
    (content / "2026-06-01-new.md").write_text("---\ntitle: New\ndate: 2026-06-01\ntags: [Go]\n---\nHello.\n", encoding="utf-8")
    assert hub_app.extensions["feeds"].builder.rescan()
    assert publisher(hub_app).wait_idle(10)
    assert len(hub.topics("500")) == 2
    expected = {f"{SITE}{prefix}{name}" for prefix in ("/", "/authors/test-author/", "/tags/go/") for name in FORMATS}
    assert sorted(hub.topics()) == sorted(expected)
    assert publisher(hub_app).failed == 0


def test_a_hub_that_never_recovers_is_given_up(hub: Hub) -> None:
    hub.fail_first = 100
    sender = Publisher((hub.url,), SITE, attempts=3, backoff=0.01).start()
    sender.publish([f"{SITE}/feed.xml"])
    assert sender.wait_idle(10)
    assert (len(hub.pings), sender.sent, sender.failed) == (3, 0, 1)
    sender.stop()


def test_an_unreachable_hub_never_blocks_the_rebuild(make_app: Callable[..., Flask], content: Path) -> None:
    app = make_app(websub_hubs=["http://127.0.0.1:9/closed"])
    (content / "2026-06-02-x.md").write_text("---\ntitle: X\ndate: 2026-06-02\n---\nX.\n", encoding="utf-8")
    assert app.extensions["feeds"].builder.rescan()
    assert b"<title>X</title>" in app.test_client().get("/feed.xml").data  # served before any ping went out


def test_stop_ends_the_sender_thread(hub_app: Flask) -> None:
    sender = publisher(hub_app)
    thread = sender._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    stop(hub_app)
    assert not thread.is_alive()


def test_the_real_server_pings_the_hub_after_an_edit(hub: Hub, content: Path, config_file: Path) -> None:
    from .server import ServerProcess

    with ServerProcess(content, config_file, env={"FEEDS_WEBSUB_HUBS": hub.url, "FEEDS_SCAN_INTERVAL": "1"}) as server:
        with urllib.request.urlopen(server.url("/tags/go/feed.json")) as response:
            assert response.headers["Link"] == f'<{hub.url}>; rel="hub", <{server.url("/tags/go/feed.json")}>; rel="self"'
        post = content / POST
        post.write_text(post.read_text(encoding="utf-8") + "\nEdited while serving.\n", encoding="utf-8")
        scopes = ["/", "/authors/test-author/", *(f"/tags/{t}/" for t in POST_TAGS)]
        expected = {server.url(f"{prefix}{name}") for prefix in scopes for name in FORMATS}
        # The scheduler scans every second.
        wait_until(lambda: set(hub.topics()) == expected, 20, "a ping for every changed feed", detail=lambda: str(sorted(hub.topics())))
        assert sorted(hub.topics()) == sorted(expected)
