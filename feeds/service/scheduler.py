"""The APScheduler job that keeps the snapshot fresh."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from feeds.service.builder import Builder


def start(builder: Builder, interval: int, *, run_now: bool = False) -> BackgroundScheduler:
    """Start a daemon scheduler that rescans every ``interval`` seconds (and at once with ``run_now``)."""
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    # A worker that just became the host's builder scans at once, not one interval later
    # (next_run_time=None would pause the job, so leave it out otherwise).
    first: dict[str, datetime] = {"next_run_time": datetime.now(UTC)} if run_now else {}
    scheduler.add_job(
        _rescan,
        "interval",
        args=[builder],
        seconds=interval,
        id="rescan",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        **first,
    )
    scheduler.start()
    return scheduler


def stop(scheduler: BackgroundScheduler) -> None:
    """Stop scheduling; a rescan in progress finishes in its (daemon) thread."""
    if scheduler.running:
        scheduler.shutdown(wait=False)


def _rescan(builder: Builder) -> None:
    # An exception here must not stop the schedule: log it and wait for the next run.
    try:
        builder.rescan()
    except Exception:
        logging.getLogger("feeds").exception("scheduled rescan failed")
