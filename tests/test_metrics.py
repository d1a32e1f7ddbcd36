"""/metrics in one process: requests by route, format and status; rebuilds; snapshot gauges."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from feeds import log


def _sample(client: FlaskClient, name: str, **labels: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    for line in response.get_data(as_text=True).splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and wanted <= set(filter(None, (match[2] or "").split(","))):
            return float(match[3])
    return 0.0


def test_requests_are_counted_by_route_format_and_status(client: FlaskClient) -> None:
    def count(route: str, fmt: str, status: str) -> float:
        return _sample(client, "feeds_requests_total", route=route, format=fmt, status=status)

    keys = [("feed", "atom", "200"), ("feed", "atom", "304"), ("feed", "text", "404"), ("unknown", "text", "404")]
    before = {key: count(*key) for key in keys}
    etag = client.get("/atom.xml").headers["ETag"]
    client.get("/tags/go/atom.xml")
    client.get("/atom.xml", headers={"If-None-Match": etag})
    client.get("/tags/no-such-tag/atom.xml")
    client.get("/no/such/path")
    assert count("feed", "atom", "200") == before[("feed", "atom", "200")] + 2
    assert count("feed", "atom", "304") == before[("feed", "atom", "304")] + 1
    assert count("feed", "text", "404") == before[("feed", "text", "404")] + 1
    assert count("unknown", "text", "404") == before[("unknown", "text", "404")] + 1
    # Repeats are answered by the replay cache without Flask (feeds.fastpath): still counted, same labels.
    opml = count("page", "opml", "200")
    for _ in range(3):
        client.get("/feeds.opml")
    for _ in range(2):
        client.get("/atom.xml", headers={"If-None-Match": etag})
    assert count("page", "opml", "200") == opml + 3
    assert count("feed", "atom", "304") == before[("feed", "atom", "304")] + 3
    client.get("/healthz")
    assert _sample(client, "feeds_requests_total", route="health", format="json", status="200") >= 1
    assert _sample(client, "feeds_requests_total", route="metrics", format="text", status="200") >= 1


def test_rebuilds_are_counted_with_their_duration(make_app: Callable[..., Flask], content: Path) -> None:
    app = make_app()
    client = app.test_client()
    rebuilds = _sample(client, "feeds_rebuilds_total", result="ok")
    observed = _sample(client, "feeds_rebuild_duration_seconds_count")
    post = next(content.glob("2026-05-02-*.md"))
    post.write_text(post.read_text().replace("Three Layers of Idempotency", "Three Layers, Revisited"))
    assert app.extensions["feeds"].builder.rescan()
    assert not app.extensions["feeds"].builder.rescan()  # nothing changed: no rebuild
    assert _sample(client, "feeds_rebuilds_total", result="ok") == rebuilds + 1
    assert _sample(client, "feeds_rebuild_duration_seconds_count") == observed + 1


def test_snapshot_gauges_describe_the_served_snapshot(make_app: Callable[..., Flask], content: Path) -> None:
    (content / "2026-06-03-broken.md").write_text("---\ntitle: [oops\n---\nbody\n")
    app = make_app()
    client = app.test_client()
    snapshot = app.extensions["feeds"].current
    assert _sample(client, "feeds_posts_published") == 21
    assert _sample(client, "feeds_tags") == len(snapshot.tags)
    assert _sample(client, "feeds_content_problems", severity="error") == 1
    assert _sample(client, "feeds_snapshot_info", version=snapshot.version) == 1
    assert 0 <= _sample(client, "feeds_snapshot_age_seconds") < 3600
    assert _sample(client, "feeds_snapshot_built_timestamp_seconds") == snapshot.built_at.timestamp()
    assert _sample(client, "feeds_degraded") == 1  # as /healthz: a post has an error
    assert client.get("/healthz").get_json()["status"] == "degraded"


def test_websub_ping_events_feed_the_ping_counter(client: FlaskClient) -> None:
    ok = _sample(client, "feeds_websub_pings_total", result="ok")
    failed = _sample(client, "feeds_websub_pings_total", result="failed")
    log.event("websub_ping", hub="http://127.0.0.1:1/hub", url="http://127.0.0.1:8000/feed.xml", result="ok", status=204)
    log.event("websub_ping", hub="http://127.0.0.1:1/hub", url="http://127.0.0.1:8000/feed.xml", result="failed", error="refused")
    assert _sample(client, "feeds_websub_pings_total", result="ok") == ok + 1
    assert _sample(client, "feeds_websub_pings_total", result="failed") == failed + 1
