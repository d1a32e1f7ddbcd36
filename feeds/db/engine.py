"""One database for every worker and host: SQLite by default, PostgreSQL (psycopg 3) for several hosts.

Both are reached through SQLAlchemy Core 2.x: one ``Engine`` per process (its
pool hands each thread its own connection), SQL written once with ``:name``
parameters, and ``INSERT … ON CONFLICT`` upserts that both databases share.
Nothing here is used while answering a feed: counting aggregates in memory and
writes in batches (``feeds.service.subscribers``).

- **SQLite** (one host): WAL, so readers never wait for the writer; a busy
  timeout, so a writer waits for another instead of failing; ``synchronous =
  NORMAL`` (durable at each checkpoint, never corrupt). pysqlite's own
  transaction handling is switched off and every transaction begins
  explicitly: ``write()`` with ``BEGIN IMMEDIATE``, which takes the write lock
  at once, so two writers queue on the busy timeout rather than one failing
  with ``SQLITE_BUSY`` when it upgrades a read.
  https://www.sqlite.org/wal.html  https://www.sqlite.org/lang_transaction.html
  https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
- **PostgreSQL** (several hosts): ``postgresql://`` URLs go to psycopg 3;
  connections are checked before use (a restarted server), and every
  statement and lock wait is bounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import URL

from feeds.db.errors import DatabaseError

Dialect = Literal["sqlite", "postgresql"]

#: Seconds a SQLite writer waits for another's transaction before it fails ("database is locked").
BUSY_TIMEOUT = 10.0
#: PostgreSQL: longest statement, and longest wait for a row or table lock, in milliseconds.
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 10_000
#: PostgreSQL: seconds to wait for a connection to the server.
CONNECT_TIMEOUT = 10
#: The file name of the default database, in the snapshot folder.
DEFAULT_NAME = "feeds.db"


def default_url(folder: Path) -> str:
    """Return the default database: ``feeds.db`` beside the snapshot's state in ``folder``."""
    return f"sqlite:///{folder.resolve() / DEFAULT_NAME}"


class Database:
    """A database shared by every worker: transactions by ``read()`` and ``write()``, migrations by ``migrate()``."""

    def __init__(self, url: str) -> None:
        parsed = _engine_url(url)
        #: The URL without its password, for logs and errors.
        self.display = parsed.render_as_string(hide_password=True)
        self.dialect: Dialect = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
        try:
            self.engine: Engine = _sqlite_engine(parsed) if self.dialect == "sqlite" else _postgresql_engine(parsed)
        except (exc.SQLAlchemyError, ImportError) as e:
            raise DatabaseError(self.display, f"cannot open: {e}") from e

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection in a transaction that sees one consistent state; commit at the end (rollback on error)."""
        with self._transaction(write=False) as connection:
            yield connection

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """Yield a connection in a write transaction (SQLite: the write lock, taken at once); commit at the end."""
        with self._transaction(write=True) as connection:
            yield connection

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(feeds_write=write)
                with connection.begin():
                    yield connection
        except exc.SQLAlchemyError as e:
            raise DatabaseError(self.display, _reason(e)) from e

    def migrate(self) -> list[int]:
        """Bring the schema up to date (safe when several workers or hosts start at once); return the versions applied."""
        from feeds.db.migrate import migrate

        return migrate(self)

    def close(self) -> None:
        """Close every pooled connection (a process that forks or exits)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.display!r})"


def _engine_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except exc.ArgumentError as e:
        raise DatabaseError("(unparsable URL)", "expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE") from e
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseError(parsed.render_as_string(hide_password=True), f"unsupported database {backend[:20]!r} (sqlite or postgresql)")


def _sqlite_engine(url: URL) -> Engine:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite begins nothing itself: "begin" below does
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("feeds_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgresql_engine(url: URL) -> Engine:
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
    return create_engine(
        url,
        pool_size=2,
        max_overflow=8,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "application_name": "feeds", "options": options},
    )


def _reason(error: exc.SQLAlchemyError) -> str:
    """The driver's own message (first line), without SQLAlchemy's statement and parameters."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
