"""The per-app state: settings, the served snapshot, the builder and its background jobs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from feeds.config import Config
from feeds.service.builder import Builder
from feeds.snapshot.build import SnapshotStore

if TYPE_CHECKING:
    from feeds.service.shared import Shared


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
        from feeds.service import scheduler

        if self.scheduler is None and not self._stopped:
            self.scheduler = scheduler.start(self.builder, self.config.scan_interval, run_now=run_now)

    def stop(self) -> None:
        """Stop the scan schedule and the snapshot watcher; hand the builder role on. Safe to call twice."""
        from feeds import log
        from feeds.service import scheduler

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
