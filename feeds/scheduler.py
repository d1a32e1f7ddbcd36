"""The APScheduler job that keeps the snapshot fresh."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from .builder import Builder


def start(builder: Builder, interval: int) -> BackgroundScheduler:
    """Start a daemon scheduler that rescans every ``interval`` seconds."""
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    scheduler.add_job(
        _rescan,
        "interval",
        args=[builder],
        seconds=interval,
        id="rescan",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
    scheduler.start()
    return scheduler


def _rescan(builder: Builder) -> None:
    # An exception here must not stop the schedule: log it and wait for the next run.
    try:
        builder.rescan()
    except Exception:
        logging.getLogger("feeds").exception("scheduled rescan failed")
