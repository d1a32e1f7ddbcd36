"""The app factory: ``create_app`` loads settings, builds (or loads) the snapshot and registers the routes."""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response

from feeds.config import load_config
from feeds.service.builder import Builder
from feeds.service.runtime import FeedsState
from feeds.snapshot.build import SnapshotStore


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    scheduler: bool | None = None,
    shared: bool | None = None,
) -> Flask:
    """Create the app: load settings, build (or load) the snapshot, register routes.

    ``test_config`` overrides settings; with it the scan scheduler stays off
    unless ``scheduler=True``. Without it (``wsgi.py``, i.e. gunicorn) the app
    runs in shared mode unless ``shared=False``: one worker per host builds and
    publishes to ``snapshot_dir``, the others load what it publishes.
    """
    from feeds import log
    from feeds.web import metrics, ratelimit, rebuild
    from feeds.web import routes as web

    config = load_config(config_file, env=os.environ if env is None else env, overrides=test_config)
    log.configure(config.log_format)
    app = metrics.CountingFlask(__name__)  # counts answers the replay cache gives without Flask too
    store = SnapshotStore()
    share = test_config is None if shared is None else shared
    if share:
        from feeds.service.shared import Shared, SharedBuilder

        builder: Builder = SharedBuilder(config, store)
    else:
        builder = Builder(config, store)
    state = FeedsState(config, store, builder)
    app.extensions["feeds"] = state
    log.event("start", pid=os.getpid(), mode="shared" if share else "single", **config.summary())
    metrics.init_app(app)
    web.init_app(app)
    rebuild.init_app(app)  # in a follower, its rescan asks the builder (SharedBuilder.rescan)
    app.wsgi_app = ratelimit.RateLimit(app.wsgi_app, config)  # type: ignore[method-assign]  # before the replay cache, inside the counting
    if config.worker_header:
        app.after_request(_worker_header)
    if share:
        assert isinstance(builder, SharedBuilder)
        state.shared = Shared(config, store, builder, on_leader=lambda: state.start_scheduler(run_now=True))
    else:
        builder.rescan(force=True)
    if config.websub_hubs:
        from feeds.service.websub import Publisher

        # After the first build: start-up itself announces nothing (see websub.changed_topics).
        # Swap listeners run only where rebuilds run, so under gunicorn only the builder pings.
        state.publisher = Publisher(config.websub_hubs, config.site_url).start()
        builder.listeners.append(state.publisher.on_swap)
    if state.shared is not None:
        state.shared.start()
        atexit.register(state.stop)
    elif scheduler if scheduler is not None else test_config is None:
        state.start_scheduler()
    return app


def _worker_header(response: Response) -> Response:
    response.headers["X-Feeds-Worker"] = str(os.getpid())
    return response
