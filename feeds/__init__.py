"""feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 from a folder of Markdown posts."""

from __future__ import annotations

__version__ = "0.1.0"

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from .builder import Builder
from .config import Config, load_config
from .snapshot import SnapshotStore


@dataclass
class FeedsState:
    """The per-app state in ``app.extensions["feeds"]``."""

    config: Config
    store: SnapshotStore
    builder: Builder
    scheduler: Any = field(default=None)
    #: The WebSub publisher (``websub.Publisher``) when hubs are configured.
    publisher: Any = field(default=None)

    def start_scheduler(self) -> None:
        """Start the rescan job once for this app."""
        from . import scheduler

        if self.scheduler is None:
            self.scheduler = scheduler.start(self.builder, self.config.scan_interval)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    scheduler: bool | None = None,
) -> Flask:
    """Create the app: load settings, build the first snapshot, register routes.

    ``test_config`` overrides settings; with it the scan scheduler stays off
    unless ``scheduler=True``. Without it (``wsgi.py``) the scheduler runs.
    """
    from . import log, rebuild, web

    config = load_config(config_file, env=os.environ if env is None else env, overrides=test_config)
    log.configure(config.log_format)
    app = Flask(__name__)
    store = SnapshotStore()
    state = FeedsState(config, store, Builder(config, store))
    app.extensions["feeds"] = state
    log.event("start", **config.summary())
    state.builder.rescan(force=True)
    if config.websub_hubs:
        from .websub import Publisher

        # After the first build: start-up itself announces nothing (see websub.changed_topics).
        state.publisher = Publisher(config.websub_hubs, config.site_url).start()
        state.builder.listeners.append(state.publisher.on_swap)
    if scheduler if scheduler is not None else test_config is None:
        state.start_scheduler()
    web.init_app(app)
    rebuild.init_app(app)
    return app
