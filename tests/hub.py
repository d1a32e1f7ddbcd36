"""A real WebSub hub from PyPI (flask-websub) on 127.0.0.1, for tests/test_clients.py.

``python -m tests.hub --port N --db FILE`` runs flask-websub's own hub blueprint
(``Hub`` + ``SQLite3HubStorage``, as its ``server_example.py`` does) under
Werkzeug's threaded server. The hub needs Celery for its work (verifying
subscribers, fetching a topic, delivering it); here that is a real Celery
worker (a pool of six threads) in a thread of this process, fed through
kombu's in-memory broker: no Redis or RabbitMQ, and still the hub answers 202
first and works in the background, as it does when deployed.

``HubProcess`` starts that process from a test and reads the subscriptions the
hub stored, so a test can wait until a subscription is active before it edits.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from .server import answers
from .waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    """Serve flask-websub's hub at ``/hub`` until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="SQLite file for the hub's subscriptions")
    args = parser.parse_args(argv)

    from celery import Celery
    from celery.contrib.testing.worker import start_worker
    from flask import Flask
    from flask_websub.hub import Hub, SQLite3HubStorage

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = Flask("hub")
    # Accept hub.mode=publish pings from the publisher under test (flask-websub's switch for it).
    app.config["PUBLISH_SUPPORTED"] = True
    celery = Celery("hub", broker="memory://", set_as_current=True)
    # The in-memory broker is polled: every 0.1 s instead of every second.
    celery.conf.update(
        broker_connection_retry_on_startup=True, broker_transport_options={"polling_interval": 0.1}, worker_hijack_root_logger=False
    )
    # Retries in a fraction of a second, not the default hour: a test waits at most a few seconds.
    hub = Hub(SQLite3HubStorage(args.db), celery, BACKOFF_BASE=0.2, MAX_ATTEMPTS=3, REQUEST_TIMEOUT=5)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))

    @app.get("/healthz")
    def healthz() -> str:
        return "ok\n"

    # Threads, so one topic that never answers does not hold up the others' deliveries.
    with start_worker(celery, pool="threads", concurrency=6, perform_ping_check=False, loglevel="INFO", shutdown_timeout=5):
        app.run(host="127.0.0.1", port=args.port, threaded=True, use_reloader=False)


class HubProcess:
    """``python -m tests.hub`` in a subprocess; ``url`` is its hub endpoint."""

    def __init__(self, folder: Path, port: int) -> None:
        self.db = folder / f"hub-{port}.sqlite3"
        self.log = folder / f"hub-{port}.log"
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/hub"
        self._log_file = self.log.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hub", "--port", str(port), "--db", str(self.db)],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        ready = f"{self.base}/healthz"
        try:
            wait_until(lambda: answers(ready, self.process, self.log), timeout, f"the hub at {ready} to answer", detail=self.log.read_text)
        except BaseException:
            self.stop()
            raise

    def subscriptions(self) -> set[tuple[str, str]]:
        """Return the (topic, callback) pairs the hub has verified and stored."""
        if not self.db.exists():
            return set()
        with contextlib.closing(sqlite3.connect(self.db, timeout=5)) as connection:
            return {(topic, callback) for topic, callback in connection.execute("select topic_url, callback_url from hub")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()

    def __enter__(self) -> HubProcess:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    main()
