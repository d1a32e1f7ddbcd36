"""The app factory: ``create_app`` loads settings, composes this worker's services and registers the routes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response

from feeds import log
from feeds.config import load_config
from feeds.service.compose import Services, compose
from feeds.web import fediverse, media, metrics, rebuild, routes, stats
from feeds.web.fastpath import ReplayCache
from feeds.web.ratelimit import RateLimit


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    schedule: bool | None = None,
    wait: bool | None = None,
) -> Flask:
    """Create the app over this worker's services: serve what is published, build it if this worker holds the lock.

    ``test_config`` overrides settings; with it the scan schedule stays off
    unless ``schedule=True`` and the call waits for the first complete snapshot
    (``wait``), so a test sees every page. Without it (``wsgi.py``: gunicorn or
    granian) nothing waits: the worker serves as soon as a snapshot is published.
    """
    testing = test_config is not None
    config = load_config(config_file, env=os.environ if env is None else env, overrides=test_config)
    log.configure(config.log_format)
    built = compose(config, schedule=not testing if schedule is None else schedule)
    app = metrics.CountingFlask(__name__)  # counts answers the replay cache gives without Flask too
    app.extensions["feeds.services"] = built
    app.extensions["feeds"] = built.runtime
    app.extensions["feeds.publisher"] = built.websub
    if built.mirror is not None:
        app.extensions["feeds.mirror"] = built.mirror
    # The database opens in the background; counting tallies in memory meanwhile (docs/subscribers.md), and the
    # fediverse answers what needs no database (its inbox waits for it, its deliverer starts once it is open).
    app.extensions["feeds.database"] = built.database
    app.extensions["feeds.subscribers"] = built.subscribers
    app.extensions["feeds.fediverse"] = built.fediverse
    metrics.init_app(app)
    routes.init_app(app)
    media.init_app(app)
    rebuild.init_app(app)
    stats.init_app(app)
    if built.subscribers is not None:
        app.observe = stats.observer(built.subscribers.tally)
    if built.fediverse is not None:
        fediverse.init_app(app, built.fediverse)
    if config.worker_header:
        app.after_request(_worker_header)
    # Repeated feed requests are answered from memory, skipping Flask (bounded by bytes); in front of that,
    # the per-client poll limit (so replayed answers count too), inside the counting (so 429s are counted).
    replay = ReplayCache(app.wsgi_app, lambda: built.runtime.current, config.memory_cache_mb << 20)
    app.wsgi_app = RateLimit(replay, config)  # type: ignore[method-assign]
    built.start(wait=wait if wait is not None else testing, stop_on_signal=not testing)
    return app


def services(app: Flask) -> Services:
    """The services ``app`` was created over."""
    built: Services = app.extensions["feeds.services"]
    return built


def stop(app: Flask) -> None:
    """Stop the app's background work: counting, the schedule, the watcher, WebSub, the mirror, the fediverse, the database.

    Safe to call twice.
    """
    services(app).stop()


def _worker_header(response: Response) -> Response:
    response.headers["X-Feeds-Worker"] = str(os.getpid())
    return response
