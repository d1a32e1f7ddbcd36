"""feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from a folder of Markdown posts."""

from __future__ import annotations

__version__ = "0.1.0"

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response

from .builder import Builder
from .config import Config, load_config
from .snapshot import SnapshotStore

if TYPE_CHECKING:
    from .shared import Shared


@dataclass
class FeedsState:
    """The per-app state in ``app.extensions["feeds"]``."""

    config: Config
    store: SnapshotStore
    builder: Builder
    scheduler: Any = field(default=None)
    #: The WebSub publisher (``websub.Publisher``) when hubs are configured; it pings only from the builder.
    publisher: Any = field(default=None)
    #: The one-builder-per-host arrangement under gunicorn; None for one process (``feeds serve``, tests).
    shared: Shared | None = field(default=None)
    _stopped: bool = field(default=False, repr=False)

    def start_scheduler(self, run_now: bool = False) -> None:
        """Start the rescan job once for this app."""
        from . import scheduler

        if self.scheduler is None and not self._stopped:
            self.scheduler = scheduler.start(self.builder, self.config.scan_interval, run_now=run_now)

    def stop(self) -> None:
        """Stop the scan schedule and the snapshot watcher; hand the builder role on. Safe to call twice."""
        from . import log, scheduler

        if self._stopped:
            return
        self._stopped = True
        if self.scheduler is not None:
            scheduler.stop(self.scheduler)
            self.scheduler = None
        if self.shared is not None:
            self.shared.stop()  # after the scheduler: no new rebuild (and so no new ping) starts
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None
        log.event("stop", version=self.store.current.version if self.store.current else "none")

    def health(self) -> dict[str, Any]:
        """Fields /healthz adds to the snapshot's: who answers and, under gunicorn, who builds."""
        # Nothing here changes while the snapshot stays (the age is built_at's, and a metric).
        now = datetime.now(UTC)
        extra: dict[str, Any] = {"pid": os.getpid()}
        if self.shared is not None:
            extra.update(self.shared.health())
            trouble = self.shared.trouble(now)
            if trouble is not None:
                extra["status"] = "degraded"
                extra["error"] = self.store.error or trouble
        return extra


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
    from . import log, metrics, rebuild, web

    config = load_config(config_file, env=os.environ if env is None else env, overrides=test_config)
    log.configure(config.log_format)
    app = metrics.CountingFlask(__name__)  # counts answers the replay cache gives without Flask too
    store = SnapshotStore()
    share = test_config is None if shared is None else shared
    if share:
        from .shared import Shared, SharedBuilder

        builder: Builder = SharedBuilder(config, store)
    else:
        builder = Builder(config, store)
    state = FeedsState(config, store, builder)
    app.extensions["feeds"] = state
    log.event("start", pid=os.getpid(), mode="shared" if share else "single", **config.summary())
    metrics.init_app(app)
    web.init_app(app)
    rebuild.init_app(app)  # in a follower, its rescan asks the builder (SharedBuilder.rescan)
    if config.worker_header:
        app.after_request(_worker_header)
    if share:
        assert isinstance(builder, SharedBuilder)
        state.shared = Shared(config, store, builder, on_leader=lambda: state.start_scheduler(run_now=True))
    else:
        builder.rescan(force=True)
    if config.websub_hubs:
        from .websub import Publisher

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
