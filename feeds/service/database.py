"""This process's handle on the shared database, opened and migrated in the background at start.

A worker serves feeds before the database is open: SQLAlchemy's import (~150 ms
of CPU) and the migrations run in a thread, so they add nothing to a worker's
start-up, and a database that is down stops no feed from being served. Users
wait for it with ``wait(timeout)``; until it is open, that raises
DatabaseError. A failed open is retried with backoff and logged once per
failure kind.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from feeds import log
from feeds.config import Config, database_display

if TYPE_CHECKING:
    from feeds.db import Database

#: Seconds between tries to open the database, doubling from the first to the last.
RETRY_FIRST, RETRY_LAST = 1.0, 60.0


class DatabaseService:
    """Opens ``database_url`` (default: ``feeds.db`` in the snapshot folder) once per process; ``wait()`` hands it out."""

    def __init__(self, config: Config, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self._database: Database | None = None
        self._error: str | None = None
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> DatabaseService:
        """Begin opening the database in a daemon thread (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._open, name="feeds-database", daemon=True)
                self._thread.start()
        return self

    def wait(self, timeout: float) -> Database:
        """Return the open, migrated database; DatabaseError if it is not open within ``timeout`` seconds."""
        from feeds.db import DatabaseError

        self.start()
        if not self._opened.wait(timeout) or self._database is None:
            raise DatabaseError(self.display(), self._error or f"not open yet (waited {timeout:g} s)")
        return self._database

    @property
    def ready(self) -> bool:
        return self._database is not None

    def display(self) -> str:
        """The database's URL without its password."""
        return database_display(self.config.database_url) if self.config.database_url else f"sqlite:///{self.folder / 'feeds.db'}"

    def status(self) -> dict[str, object]:
        """For /healthz: whether the database is open, and the last error if not."""
        return {"open": self.ready, **({"error": self._error} if self._error and not self.ready else {})}

    def stop(self, deadline: float | None = None) -> None:
        """Stop trying to open; close the pooled connections. Safe to call twice.

        An open still under way is not waited for (its thread closes what it opened, or dies with the process):
        a worker stopped as it starts has nothing to write yet.
        """
        self._stop.set()
        with self._lock:
            database, self._database = self._database, None
        if database is not None:
            database.close()

    def _open(self) -> None:
        from feeds.db import DatabaseError, open_database

        delay = RETRY_FIRST
        last = None
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                database = open_database(self.config, self.folder)
            except DatabaseError as e:
                self._error = str(e)
                if str(e) != last:  # once per kind of failure, not once per try
                    log.event("database_failed", logging.ERROR, error=str(e), retry=delay)
                    last = str(e)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, RETRY_LAST)
                continue
            with self._lock:
                if self._stop.is_set():
                    database.close()
                    return
                self._database, self._error = database, None
            log.event("database_open", database=database.display, dialect=database.dialect, seconds=f"{time.perf_counter() - started:.3f}")
            self._opened.set()
            return
