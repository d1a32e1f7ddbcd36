"""A signed push webhook is acted on once (issue 15.11): a replay within the window gets a cheap answer, no rescan.

No provider signs a timestamp, so anyone who captured a delivery could replay it for ever.
Each delivery acted on is remembered by its id and the digest of its body, in files every
worker of the host shares: a replay is answered ``duplicate`` by whichever worker it reaches.
"""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds.service.deliveries import Deliveries
from feeds.web.hooks import delivery_keys, sign

from .conftest import SAMPLE, SITE_CONFIG
from .server import WsgiServer
from .test_kept import feed_titles
from .waiting import wait_until

SECRET = "a-webhook-secret-of-some-length-too"
TOKEN = "a-rebuild-token-of-some-length-too"
POST = "2026-05-02-three-layers-of-idempotency.md"


def push(after: str) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": after}).encode()


def github(body: bytes, delivery: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + sign(body, SECRET), "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}


def deliver(server: WsgiServer, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object], str]:
    """POST the webhook on a new connection (so the host's workers take turns); status, JSON answer, worker pid."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/-/rebuild", body=body, headers=headers | {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("X-Feeds-Worker") or ""
    finally:
        connection.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WsgiServer]:
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    # No file-system events: only a push may publish an edit here (a replay must not; tests/test_watch.py has the events).
    env = {"FEEDS_WEBHOOK_SECRET": SECRET, "FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_SCAN_INTERVAL": "3600", "FEEDS_WORKER_HEADER": "true"}
    env["FEEDS_WATCH"] = "false"
    process = WsgiServer("granian", tmp_path / "content", tmp_path / "feeds.toml", workers=2, env=env | {"FEEDS_POLL_LIMIT": "0"})
    # A rebuild asked while the start-up scan still saves and prunes is queued (202): start from an idle builder.
    wait_until(lambda: deliver(process, b"", {"Authorization": f"Bearer {TOKEN}"})[0] == 200, 30, "the end of the start-up scan")
    yield process
    process.stop()


def test_a_replayed_push_is_answered_by_any_worker_without_a_rescan(server: WsgiServer, tmp_path: Path) -> None:
    first = push("2" * 40)
    status, answer, _ = deliver(server, first, github(first, "d-1"))
    assert (status, answer["status"]) == (200, "done"), answer

    source = tmp_path / "content" / POST
    source.write_text(source.read_text(encoding="utf-8").replace("Three Layers of Idempotency", "Edited after the push"), encoding="utf-8")
    workers = set()

    def replayed(delivery: str = "d-1") -> bool:
        status, answer, worker = deliver(server, first, github(first, delivery))
        assert (status, answer) == (200, {"provider": "github", "status": "duplicate"})
        workers.add(worker)
        return len(workers) == 2

    for delivery in ("d-1", "d-1", "another id, the same signed body", "d-1"):
        replayed(delivery)
    wait_until(replayed, 20, "a replay answered by each worker (a connection goes to either)")
    assert "Edited after the push" not in feed_titles(server), "a replay rescanned"
    assert server.log.read_text().count(" event=webhook_replay ") >= 4

    second = push("3" * 40)  # the next push (a new body, a new id) rescans: a replay could have
    status, answer, _ = deliver(server, second, github(second, "d-2"))
    assert (status, answer["status"], answer.get("changed")) == (200, "done", True), answer
    assert "Edited after the push" in feed_titles(server)


@pytest.mark.parametrize(
    ("provider", "headers", "delivery"),
    [
        ("github", {"X-GitHub-Delivery": " 72d3162e-cc78-11e3-81ab-4c9367dc0958 "}, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("gitea", {"X-Forgejo-Delivery": "f1", "X-Gitea-Delivery": "g1", "X-GitHub-Delivery": "h1"}, "f1"),
        ("gitea", {"X-Gitea-Delivery": "g1", "X-GitHub-Delivery": "h1"}, "g1"),
        ("gitlab", {"X-Gitlab-Event-UUID": "e1", "Idempotency-Key": "k1"}, "e1"),
        ("gitlab", {"Idempotency-Key": "k1"}, "k1"),
        ("github", {"X-GitHub-Delivery": "x" * 201}, None),  # too long to remember by: the body's digest still is
        ("github", {}, None),
    ],
)
def test_a_delivery_is_remembered_by_its_body_and_its_id(provider: str, headers: dict[str, str], delivery: str | None) -> None:
    keys = delivery_keys(provider, headers, b"{}")  # type: ignore[arg-type]
    assert keys[0].startswith("body:") and keys[1:] == ([f"id:{provider}:{delivery}"] if delivery else [])


def test_deliveries_are_forgotten_after_the_window_or_past_the_limit(tmp_path: Path) -> None:
    now = [1000.0]
    seen = Deliveries(tmp_path / "deliveries", window=60, limit=3, clock=lambda: now[0])
    assert seen.claim(["a", "id:a"]) and not seen.claim(["a"]) and not seen.claim(["other body", "id:a"])
    assert len(list((tmp_path / "deliveries").iterdir())) == 2, "a refused claim leaves nothing behind"
    seen.release(["a", "id:a"])
    assert seen.claim(["a", "id:a"]), "a delivery that failed is acted on when it comes again"
    for key in ("b", "c", "d"):
        assert seen.claim([key])
    assert len(list((tmp_path / "deliveries").iterdir())) == 3, "the oldest go past the limit"
    now[0] += 61
    assert seen.claim(["d"]), "remembered for the window only"
