"""gunicorn settings for feeds: ``gunicorn -c gunicorn.conf.py wsgi:app`` (command-line options override these).

One worker per host builds the snapshot and publishes it to ``snapshot_dir``;
every worker serves it from the files there (see ``feeds/service/runtime.py``).
Counters are summed across workers through prometheus-client's multiprocess
mode, whose folder must be set here, in the master, before any worker imports
the app. The master imports the libraries the app uses (not the app, nor this
project's modules) once, so workers fork with them loaded and share their memory.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

bind = "127.0.0.1:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"  # answers are dictionary lookups of prebuilt bytes: nothing to wait on
# Never preload: the builder lock and the watcher thread must belong to each worker, not be
# inherited from the master (a flock taken before fork would be shared by every worker).
preload_app = False
timeout = 30
graceful_timeout = 20
accesslog = None  # access logs are the front proxy's job; feeds logs one line per event, not per request
errorlog = "-"
loglevel = "info"
proc_name = "feeds"
# gunicorn ≥ 25 opens a control socket at one per-user path; several instances on a host
# (blue/green, tests) would take it from each other, and feeds needs none.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Refuse to start on a bad setting (naming it); give the workers a clean folder for their counters."""
    from feeds.config import load_config
    from feeds.errors import ConfigError
    from feeds.service.folders import prepare_dir

    try:
        prepare_dir(load_config())
    except ConfigError as e:
        print(f"feeds: {e}", file=sys.stderr)
        raise SystemExit(1) from e
    # Set in the master before any worker is forked (and so before any imports prometheus_client).
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="feeds-metrics-")
        os.environ["_FEEDS_METRICS_DIR_OWNED"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]  # ours to remove on exit
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):  # counters of an earlier run
        stale.unlink(missing_ok=True)
    # Libraries only, no app and none of this project's modules: no thread or lock is created here, every worker forks
    # with the libraries loaded (sharing their pages) and imports the code on disk itself (a HUP loads new code).
    from feeds.web.preload import preload

    preload()


def worker_exit(server: Any, worker: Any) -> None:
    """Stop the worker's scan schedule and watcher, and hand the builder role to another worker."""
    from feeds.web.app import stop

    app = getattr(worker, "wsgi", None)
    if getattr(app, "extensions", {}).get("feeds") is not None:
        stop(app)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    owned = os.environ.get("_FEEDS_METRICS_DIR_OWNED")
    if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(owned, ignore_errors=True)
