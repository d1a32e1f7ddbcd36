"""The web side of subscriber counting: which answers the hook counts, who may see the pages, the gauges."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from feeds.stats.tally import Tally
from feeds.web.stats import authorized, observer

TOKEN = "stats-token-0123456789"
READER = "NetNewsWire (RSS Reader; https://netnewswire.com/)"


def _environ(path: str = "/feed.xml", **headers: str) -> dict[str, Any]:
    return {"PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": READER, **headers}


@pytest.mark.parametrize(
    ("environ", "status", "counted"),
    [
        (_environ(), "200 OK", True),
        (_environ("/tags/go/page/2/atom.xml", HTTP_IF_NONE_MATCH='"x"'), "304 Not Modified", True),
        (_environ("/feed.json", HTTP_ACCEPT="application/feed+json, */*"), "200 OK", True),
        (_environ("/"), "200 OK", False),  # not a feed
        (_environ("/healthz"), "200 OK", False),
        (_environ("/no-such/feed.xml"), "404 Not Found", False),
        (_environ(), "500 Internal Server Error", False),
        (_environ(HTTP_ACCEPT="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), "200 OK", False),  # a browser
    ],
)
def test_the_hook_counts_feed_answers_to_pollers(environ: dict[str, Any], status: str, counted: bool) -> None:
    tally = Tally()
    observer(tally)(environ, status)
    generations, _ = tally.drain(0.0, everything=True)
    assert bool(generations) is counted and all(not g.refused for g in generations)


def test_the_hook_keeps_a_429_apart() -> None:
    tally = Tally()
    observer(tally)(_environ(HTTP_X_FORWARDED_FOR="198.51.100.9"), "429 Too Many Requests")
    [(polls, refused, _)], _ = tally.drain(0.0, everything=True)
    assert polls == {} and refused == {("/feed.xml", READER, "127.0.0.1", "198.51.100.9")}


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer   {TOKEN} ", True),
        (_basic(TOKEN), True),
        (_basic("rebuild-token-0123456789"), True),
        (f"Bearer {TOKEN}x", False),
        (_basic("nope"), False),
        ("Basic !!!not-base64", False),
        (TOKEN, False),
        ("", False),
        (None, False),
    ],
)
def test_the_pages_take_either_token_as_bearer_or_basic(header: str | None, ok: bool) -> None:
    assert authorized(header, (TOKEN, "rebuild-token-0123456789")) is ok


def test_without_a_token_there_are_no_pages(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/-/stats", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_wrong_tokens_are_refused_then_limited(make_app: Callable[..., Flask]) -> None:
    client = make_app(stats_token=TOKEN, rebuild_failure_limit=2).test_client()
    answers = [client.get("/-/stats.json", headers={"Authorization": "Bearer wrong-token-0000000"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert answers[0].headers["WWW-Authenticate"].startswith("Basic ") and answers[0].headers["Cache-Control"] == "no-store"


def test_counting_off_leaves_no_hook_and_no_database(make_app: Callable[..., Flask]) -> None:
    app = make_app(stats=False, stats_token=TOKEN)
    assert app.observe is None and app.extensions["feeds.database"] is None  # type: ignore[attr-defined]
    assert app.test_client().get("/-/stats", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert "feeds_subscribers{" not in app.test_client().get("/metrics").get_data(as_text=True)
