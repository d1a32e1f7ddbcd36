"""The app factory: ``create_app`` loads settings, starts this worker's runtime and registers the routes."""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response

from feeds import log
from feeds.config import load_config
from feeds.service.database import DatabaseService
from feeds.service.fediverse import Fediverse
from feeds.service.publish import Mirror
from feeds.service.runtime import Runtime
from feeds.service.subscribers import SubscriberCounter, follower_counts
from feeds.service.websub import Publisher
from feeds.web import fediverse as fediverse_web
from feeds.web import metrics, rebuild, routes, stats
from feeds.web.fastpath import ReplayCache
from feeds.web.ratelimit import RateLimit

#: How long ``create_app(wait=True)`` waits for the complete first snapshot (tests, ``feeds build``).
BUILD_WAIT = 600.0
#: How long the stop of the subscriber counter, the fediverse and the database may take (the last writes included).
STOP_WITHIN = 4.0


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    schedule: bool | None = None,
    wait: bool | None = None,
) -> Flask:
    """Create the app over this worker's runtime: serve what is published, build it if this worker holds the lock.

    ``test_config`` overrides settings; with it the scan schedule stays off
    unless ``schedule=True`` and the call waits for the first complete snapshot
    (``wait``), so a test sees every page. Without it (``wsgi.py``: gunicorn or
    granian) nothing waits: the worker serves as soon as a snapshot is published.
    """
    testing = test_config is not None
    config = load_config(config_file, env=os.environ if env is None else env, overrides=test_config)
    log.configure(config.log_format)
    app = metrics.CountingFlask(__name__)  # counts answers the replay cache gives without Flask too
    runtime = Runtime(config, schedule=not testing if schedule is None else schedule)
    app.extensions["feeds"] = runtime
    # Listeners run only where the builder publishes, so a hub gets one ping per change per host.
    pinger = Publisher(config.websub_hubs, config.site_url).start() if config.websub_hubs else None
    app.extensions["feeds.publisher"] = pinger
    if config.publish_url and config.publish_on_rebuild:
        # Copy every complete snapshot to the bucket; hubs hear of a change once its objects are readable there.
        mirror = Mirror(config, runtime.store, on_published=lambda report: pinger.publish(report.topics) if pinger else None)
        app.extensions["feeds.mirror"] = mirror
        runtime.listeners.append(mirror.on_publish)
        runtime.status_fields["publish"] = mirror.status
    elif pinger is not None:
        runtime.listeners.append(pinger.on_publish)
    # The database opens in the background; counting tallies in memory meanwhile (docs/subscribers.md), and
    # the fediverse answers what needs no database (its inbox waits for it, its deliverer starts once it is open).
    database = DatabaseService(config, runtime.folder) if config.stats or config.fediverse else None
    counter = SubscriberCounter(config, database, follower_counts(config)) if database is not None and config.stats else None
    fediverse = Fediverse(config, runtime, database) if database is not None and config.fediverse else None
    app.extensions["feeds.database"] = database
    app.extensions["feeds.subscribers"] = counter
    app.extensions["feeds.fediverse"] = fediverse
    log.event("start", pid=os.getpid(), **config.summary())
    metrics.init_app(app)
    routes.init_app(app)
    rebuild.init_app(app)
    stats.init_app(app)
    if database is not None:
        database.start()
    if counter is not None:
        app.observe = stats.observer(counter.tally)
        counter.start()
    if fediverse is not None:
        fediverse_web.init_app(app, fediverse.start())
    if config.worker_header:
        app.after_request(_worker_header)
    # Repeated feed requests are answered from memory, skipping Flask (bounded by bytes); in front of that,
    # the per-client poll limit (so replayed answers count too), inside the counting (so 429s are counted).
    replay = ReplayCache(app.wsgi_app, lambda: runtime.current, config.memory_cache_mb << 20)
    app.wsgi_app = RateLimit(replay, config)  # type: ignore[method-assign]
    runtime.start()
    if wait if wait is not None else testing:
        builder = runtime.builder if not runtime.schedule else None
        if builder is not None:
            runtime.builder_run()
        if builder is None or builder.error is None:  # a build that failed here publishes nothing more until a rescan
            runtime.wait_for(lambda m: m is not None and m.complete, BUILD_WAIT)
    atexit.register(_stop_at_exit, app)
    # A granian worker is a multiprocessing process, which ends with os._exit(): no atexit handler runs
    # there, but multiprocessing's finalizers do (this one after the helper pool's, priority 100).
    multiprocessing.util.Finalize(app, _stop_at_exit, args=(app,), exitpriority=50)
    return app


def stop(app: Flask) -> None:
    """Stop the app's background work: the schedule, the watcher, WebSub; hand the builder role on. Safe to call twice."""
    deadline = time.monotonic() + STOP_WITHIN
    # What writes to the database first (the last polls; deliveries in flight end or stay queued, and the delivery
    # lease is given up): a build in progress may take a while to stop.
    for name in ("feeds.subscribers", "feeds.fediverse"):
        if app.extensions.get(name) is not None:
            app.extensions[name].stop(deadline)
    app.extensions["feeds"].stop()
    for name in ("feeds.mirror", "feeds.publisher"):
        if app.extensions.get(name) is not None:
            app.extensions[name].stop()
    if app.extensions.get("feeds.database") is not None:
        app.extensions["feeds.database"].stop(deadline)


def _stop_at_exit(app: Flask) -> None:
    logging.raiseExceptions = False  # stderr may be closed by now (a test runner, a server shutting down)
    stop(app)


def _worker_header(response: Response) -> Response:
    response.headers["X-Feeds-Worker"] = str(os.getpid())
    return response
