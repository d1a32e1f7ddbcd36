"""Subscriber counts on the web: the per-answer hook that tallies polls, ``/-/stats``, ``/-/stats.json``, /metrics gauges.

The hook runs as every answer starts (``metrics.CountingFlask``), replayed
answers included, and only adds to the worker's tally. The pages exist when
``stats_token`` or ``rebuild_token`` is set, and answer a request that carries
either as ``Authorization: Bearer <token>`` or as the password of HTTP Basic
(so a browser can ask for it); otherwise 401.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from flask import request as flask_request
from markupsafe import Markup
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feeds import urls
from feeds.limits import MAX_USER_AGENT
from feeds.render.formats import FORMATS
from feeds.service.subscribers import CHART_DAYS, SubscriberCounter
from feeds.stats import agents
from feeds.stats.chart import LAYERS, svg
from feeds.stats.counts import DIRECT, FEDIVERSE, FORMAT_NAMES, Counts, Day, group
from feeds.stats.tally import Tally
from feeds.web import hooks
from feeds.web.negotiation import prefers_html

bp = Blueprint("stats", __name__)
_FEED_SUFFIXES = tuple("/" + name for name in FORMATS)
#: The answers that are polls: the feed (200) or "not modified" (304).
_POLLED = ("200 ", "304 ")
#: No script, nothing fetched: the page is its own HTML, CSS and SVG.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def observer(tally: Tally) -> Callable[[dict[str, Any], str], None]:
    """Return the hook that counts one answer: a feed answered 200, 304 or 429, to anything but a browser."""
    add, refuse = tally.add, tally.refuse
    browser = functools.lru_cache(maxsize=256)(prefers_html)

    def observe(environ: dict[str, Any], status: str) -> None:
        get = environ.get
        path = get("PATH_INFO", "")
        if not path.endswith(_FEED_SUFFIXES):
            return
        polled = status.startswith(_POLLED)
        if not polled and not status.startswith("429"):
            return
        accept = get("HTTP_ACCEPT")
        if accept and "html" in accept and browser(accept):
            return  # a person looking at the feed's HTML view, not a subscriber
        agent = get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT]
        if polled:
            add(
                (
                    path,
                    agent,
                    get("REMOTE_ADDR", ""),
                    get("HTTP_X_FORWARDED_FOR"),
                    "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ,
                )
            )
        else:
            refuse((path, agent, get("REMOTE_ADDR", ""), get("HTTP_X_FORWARDED_FOR")))

    return observe


def authorized(header: str | None, tokens: tuple[str, ...]) -> bool:
    """Return whether ``Authorization`` carries one of ``tokens``: ``Bearer <token>``, or Basic with it as the password.

    Every comparison takes the same time wherever the first wrong byte is (RFC 6750 §2.1, RFC 7617).
    """
    scheme, _, value = (header or "").strip().partition(" ")
    given: bytes | None = None
    if scheme.lower() == "bearer":
        given = hooks.raw(value.strip())
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            return False
    if given is None:
        return False
    matches = [hmac.compare_digest(given, token.encode("utf-8")) for token in tokens]
    return any(matches)


def _counter() -> SubscriberCounter:
    counter: SubscriberCounter = current_app.extensions["feeds.subscribers"]
    return counter


def _guarded(view: Callable[[], Response]) -> Callable[[], Response]:
    @functools.wraps(view)
    def guarded() -> Response:
        config = current_app.extensions["feeds"].config
        tokens = tuple(token for token in (config.stats_token, config.rebuild_token) if token)
        if not authorized(flask_request.headers.get("Authorization"), tokens):
            response = Response("401 Unauthorized\n", status=401, content_type="text/plain; charset=utf-8")
            response.headers["WWW-Authenticate"] = 'Basic realm="feeds stats", charset="UTF-8"'
            response.headers["Cache-Control"] = "no-store"
            return response
        response = view()
        response.headers["Cache-Control"] = "no-store"
        return response

    return guarded


def _feeds() -> list[tuple[str, str]]:
    """Every feed of the served snapshot: (prefix, title), the site's first, then the tags by name."""
    runtime = current_app.extensions["feeds"]
    manifest = runtime.current
    tags = sorted(manifest.tags, key=lambda t: t.name.casefold()) if manifest is not None else []
    return [(urls.SITE, runtime.config.title)] + [(urls.tag_prefix(tag.slug), tag.name) for tag in tags]


def _report() -> tuple[Counts, dict[str, list[Day]], list[dict[str, Any]]]:
    counter = _counter()
    counts = counter.current()
    history = counter.history(CHART_DAYS)
    titles = dict(_feeds())
    site_url = current_app.extensions["feeds"].config.site_url
    rows = []
    for feed in counts.ordered(list(titles)):
        rows.append(
            {
                **feed.fields(),
                "title": titles.get(feed.feed, feed.feed),
                "urls": {FORMAT_NAMES[name]: urls.absolute(site_url, urls.feed_path(feed.feed, name)) for name in FORMATS},
                "history": [
                    {"day": day.day.isoformat(), "subscribers": sum(day.sources.values()), "sources": dict(sorted(day.sources.items()))}
                    for day in history.get(feed.feed, [])
                ],
            }
        )
    return counts, history, rows


@bp.get("/-/stats.json")
@_guarded
def stats_json() -> Response:
    counts, _, rows = _report()
    return jsonify({"at": counts.at.isoformat().replace("+00:00", "Z"), "subscribers": sum(r["subscribers"] for r in rows), "feeds": rows})


@bp.get("/-/stats")
@_guarded
def stats_page() -> Response:
    counts, history, rows = _report()
    today = counts.at.date()
    for row in rows:
        days = history.get(row["feed"], [])
        row["chart"] = Markup(svg(days, today, CHART_DAYS, f"{row['title']}: subscribers, last {CHART_DAYS} days"))
        row["groups"] = {name: sum(n for s, n in row["sources"].items() if group(s) == name) for name, _, _ in LAYERS}
        row["shown"] = bool(row["subscribers"] or row["history"])
    body = render_template(
        "stats.html",
        config=current_app.extensions["feeds"].config,
        at=counts.at,
        rows=rows,
        total=sum(r["subscribers"] for r in rows),
        layers=LAYERS,
        label=agents.label,
        formats=list(FORMAT_NAMES.values()),
        days=CHART_DAYS,
    )
    response = Response(body, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class SubscriberCollector(Collector):
    """``feeds_subscribers{feed, source}`` from the counts every worker reads back (the same on each)."""

    def __init__(self, counter: SubscriberCounter) -> None:
        self.counter = counter

    def collect(self) -> Iterator[Metric]:
        from feeds.db import DatabaseError

        family = GaugeMetricFamily(
            "feeds_subscribers",
            "Subscribers per feed (its formats and pages folded) by source: an aggregator's report, direct readers, fediverse.",
            labels=["feed", "source"],
        )
        try:
            counts = self.counter.current()
        except DatabaseError:
            return  # no gauge rather than a wrong one; the log says why
        for feed in counts.ordered():
            by_label: dict[str, int] = {}
            for source, count in feed.sources.items():
                # Aggregators outside the table share one label value: a client cannot mint label values.
                known = source in agents.AGGREGATORS_BY_NAME or source in (DIRECT, FEDIVERSE)
                by_label[source if known else "other"] = by_label.get(source if known else "other", 0) + count
            for source, count in sorted(by_label.items()):
                family.add_metric([feed.feed, source], count)
        yield family


def init_app(app: Flask) -> None:
    """Register the pages (when a token is set) and the /metrics gauges, when counting is on."""
    counter = app.extensions.get("feeds.subscribers")
    if counter is None:
        return
    app.extensions.setdefault("feeds.collectors", []).append(SubscriberCollector(counter))
    config = app.extensions["feeds"].config
    if config.stats_token or config.rebuild_token:
        app.register_blueprint(bp)
