"""Prometheus metrics at ``/metrics``: counters summed over every gunicorn worker, gauges read from the served snapshot.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker imports this module, so each counter increment lands in a per-process
file that the scraping worker sums (prometheus-client's multiprocess mode).
The gauges need no such care: every worker serves the same snapshot, so the
one that answers the scrape reports them from memory at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feeds import log
from feeds.service.health import health
from feeds.service.runtime import Runtime

#: This package's own metrics (in multiprocess mode their values live in files; this registry is unused then).
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "feeds_requests",
    "HTTP requests answered, by route kind (feed, page, post, health, metrics, rebuild, unknown), format and status.",
    ["route", "format", "status"],
    registry=REGISTRY,
)
REBUILDS = Counter("feeds_rebuilds", "Snapshot rebuilds on this host, by result (ok, failed).", ["result"], registry=REGISTRY)
REBUILD_SECONDS = Histogram(
    "feeds_rebuild_duration_seconds",
    "Time from the start of a scan to the swap of the rebuilt snapshot.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
SCAN_FAILURES = Counter("feeds_scan_failures", "Scans that could not read the content folder at all.", registry=REGISTRY)
PUBLISHES = Counter("feeds_publishes", "Snapshots written to snapshot_dir for the other workers, by result.", ["result"], registry=REGISTRY)
BUCKET_PUBLISHES = Counter("feeds_bucket_publishes", "Publishes to the bucket (publish_url), by result.", ["result"], registry=REGISTRY)
BUCKET_OBJECTS = Counter("feeds_bucket_objects_uploaded", "Objects uploaded to the bucket (plain and gzip copies).", registry=REGISTRY)
BUCKET_BYTES = Counter("feeds_bucket_bytes_uploaded", "Bytes uploaded to the bucket.", registry=REGISTRY)
WEBSUB_PINGS = Counter(
    "feeds_websub_pings",
    "WebSub publish ping attempts, by result (ok, retry, gave_up); counted from websub_ping log events.",
    ["result"],
    registry=REGISTRY,
)
SUBSCRIBER_FLUSHES = Counter(
    "feeds_subscriber_flushes",
    "Writes of a worker's subscriber counts to the database, by result (ok, failed).",
    ["result"],
    registry=REGISTRY,
)
SUBSCRIBER_DROPPED = Counter(
    "feeds_subscriber_polls_dropped", "Polls not counted because a worker's tally was full (MAX_PENDING_POLLS).", registry=REGISTRY
)
FEDIVERSE_ACTIVITIES = Counter(
    "feeds_fediverse_activities",
    "Activities POSTed to the fediverse inboxes, by type (Follow, Undo, Like, Announce, Reply, …) and result (ok, ignored, refused).",
    ["type", "result"],
    registry=REGISTRY,
)
FEDIVERSE_DELIVERIES = Counter(
    "feeds_fediverse_deliveries",
    "Deliveries to remote inboxes, by result (ok; retry: will be tried again; dropped: given up).",
    ["result"],
    registry=REGISTRY,
)

_ROUTES = {"feeds.feed": "feed", "feeds.page": "page", "feeds.healthz": "health", "metrics.metrics": "metrics"}
_FORMATS = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
    "text/html": "html",
    "text/x-opml": "opml",
    "text/plain": "text",
    "application/activity+json": "activity",
    "application/jrd+json": "jrd",
}

bp = Blueprint("metrics", __name__)


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when gunicorn.conf.py (or the operator) set one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def on_event(name: str, fields: dict[str, Any]) -> None:
    """Count the events that are metrics too (a log observer)."""
    if name == "rebuild":
        REBUILDS.labels(result="ok").inc()
        REBUILD_SECONDS.observe(float(fields.get("seconds", 0)))
    elif name == "rebuild_failed":
        REBUILDS.labels(result="failed").inc()
    elif name == "scan_failed":
        SCAN_FAILURES.inc()
    elif name in ("publish", "publish_failed"):
        PUBLISHES.labels(result="ok" if name == "publish" else "failed").inc()
    elif name in ("bucket_publish", "bucket_publish_failed"):
        BUCKET_PUBLISHES.labels(result="ok" if name == "bucket_publish" else "failed").inc()
        BUCKET_OBJECTS.inc(float(fields.get("uploaded", 0) or 0))
        BUCKET_BYTES.inc(float(fields.get("uploaded_bytes", 0) or 0))
    elif name == "state_failed":
        PUBLISHES.labels(result="state_failed").inc()
    elif name == "websub_ping":
        WEBSUB_PINGS.labels(result=str(fields.get("result", "unknown"))).inc()
    elif name in ("stats_flush", "stats_flush_failed"):
        SUBSCRIBER_FLUSHES.labels(result="ok" if name == "stats_flush" else "failed").inc()
        SUBSCRIBER_DROPPED.inc(float(fields.get("dropped", 0) or 0))
    elif name == "fediverse_inbox":
        FEDIVERSE_ACTIVITIES.labels(type=str(fields.get("type", "other")), result=str(fields.get("result", "ok"))).inc()
    elif name == "fediverse_delivery":
        FEDIVERSE_DELIVERIES.labels(result="ok").inc(float(fields.get("count", 1)))
    elif name in ("fediverse_delivery_retry", "fediverse_delivery_dropped"):
        FEDIVERSE_DELIVERIES.labels(result="retry" if name.endswith("retry") else "dropped").inc()


class SnapshotCollector(Collector):
    """Gauges about the snapshot this worker serves, from the same health record as /healthz, computed when scraped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        record = health(self.runtime)
        snapshot = self.runtime.current
        yield _gauge("feeds_posts_published", "Published posts in the served snapshot.", snapshot.post_count if snapshot else 0)
        yield _gauge("feeds_tags", "Tags with at least one published post.", len(snapshot.tags) if snapshot else 0)
        problems = GaugeMetricFamily("feeds_content_problems", "Content problems in the served snapshot, by severity.", labels=["severity"])
        for severity in ("error", "warning"):
            problems.add_metric([severity], snapshot.count(severity) if snapshot else 0)
        yield problems
        kept, pending = (len(snapshot.kept) + snapshot.kept_omitted, len(snapshot.pending)) if snapshot else (0, 0)
        yield _gauge("feeds_kept_posts", "Posts served from their last good version (their file is broken).", kept)
        yield _gauge("feeds_pending_documents", "Older pages not rendered yet (rendered when asked for).", pending)
        if snapshot is not None:
            age = (datetime.now(UTC) - snapshot.built_at).total_seconds()
            yield _gauge("feeds_snapshot_age_seconds", "Seconds since the served snapshot was built.", age)
            yield _gauge("feeds_snapshot_built_timestamp_seconds", "When the served snapshot was built.", snapshot.built_at.timestamp())
            info = GaugeMetricFamily("feeds_snapshot_info", "The served snapshot's version (equal for equal content).", labels=["version"])
            info.add_metric([snapshot.version], 1)
            yield info
        status = self.runtime.builder_status()
        if status.last_scan is not None:
            yield _gauge("feeds_last_scan_timestamp_seconds", "When the builder last scanned the content.", status.last_scan.timestamp())
        alive = [moment for moment in (status.last_scan, status.progress, status.since) if moment is not None]
        if alive:
            help_ = "When the builder last scanned or made progress in a build (a long build advances it, a stuck one does not)."
            yield _gauge("feeds_builder_progress_timestamp_seconds", help_, max(alive).timestamp())
        yield _gauge("feeds_degraded", "1 when /healthz says degraded (see its error and problems).", 1 if record.degraded else 0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


@bp.get("/metrics")
def metrics() -> Response:
    live = CollectorRegistry(auto_describe=False)
    live.register(SnapshotCollector(current_app.extensions["feeds"]))
    for collector in current_app.extensions.get("feeds.collectors", ()):  # read from shared state when scraped
        live.register(collector)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(live)  # type: ignore[no-untyped-call]
        data = generate_latest(live)
    else:
        data = generate_latest(REGISTRY) + generate_latest(live)
    response = Response(data, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


class CountingFlask(Flask):
    """The Flask app, counting every answer it gives, also those replayed without Flask (``fastpath``).

    Counting wraps ``__call__`` rather than ``wsgi_app``, so it sits outside every
    WSGI layer an ``init_app`` adds there.
    """

    #: Also shown each answer's environ and status as it starts (subscriber counting); must be quick.
    observe: Callable[[dict[str, Any], str], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        counted = False
        observe = self.observe

        def counting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal counted
            if not counted:
                counted = True
                _count(environ, status, headers)
                if observe is not None:
                    observe(environ, status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.wsgi_app(environ, counting)


def _count(environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> None:
    # Flask's answers carry their labels; a replayed one has the labels of the answer it replays.
    labels = environ.get("feeds.labels") or _LEARNED.get(_learn_key(environ))
    if labels is None:
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        labels = ("unknown", _FORMATS.get(content_type.split(";", 1)[0].strip().lower(), "other"))
    REQUESTS.labels(route=labels[0], format=labels[1], status=status.split(" ", 1)[0]).inc()


#: Labels of the answers Flask gave, by path and Accept, for the same answers replayed without Flask.
_LEARNED: dict[tuple[str, str], tuple[str, str]] = {}


def _learn_key(environ: dict[str, Any]) -> tuple[str, str]:
    return (environ.get("PATH_INFO", ""), environ.get("HTTP_ACCEPT", ""))


def _label(response: Response) -> Response:
    # Labels from the Response object: at the WSGI level a 304 has lost its Content-Type.
    route = _route()
    if route == "post" and response.status_code in (308, 404):  # the catch-all of post pages: not a document
        route = "unknown"
    labels = (route, _FORMATS.get(response.mimetype or "", "other"))
    request.environ["feeds.labels"] = labels
    if labels[0] in ("feed", "page", "post"):
        if len(_LEARNED) >= 65536:  # keys include a client's Accept header: stay bounded
            _LEARNED.clear()
        _LEARNED[_learn_key(request.environ)] = labels
    return response


def _route() -> str:
    # Endpoint names, never paths: a label per path would let any client grow the metrics without bound.
    endpoint = request.endpoint
    if endpoint is None:
        return "unknown"
    return _ROUTES.get(endpoint, endpoint.rsplit(".", 1)[-1])


def init_app(app: Flask) -> None:
    """Register ``/metrics``, label every response for CountingFlask, and count rebuilds from log events."""
    app.register_blueprint(bp)
    app.after_request(_label)  # the counting itself is CountingFlask's
    log.observe(on_event)
