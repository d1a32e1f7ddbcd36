"""Numbered migrations, run at start by every worker, applied once.

Each migration is a module ``feeds/db/migrations/mNNNN_<name>.py`` with a
function ``upgrade(connection)``; they run in number order, and numbers have
no gaps. All pending ones run in one transaction, with the version of each
written to ``schema_migrations`` in the same transaction, so a failure leaves
the schema as it was (both databases' DDL is transactional).

Several workers and hosts start at once: the transaction first takes a lock
that only one holder gets, then reads which versions are applied. On
PostgreSQL that is a transaction-level advisory lock; on SQLite the database's
write lock (``BEGIN IMMEDIATE``), waited for through the busy timeout. The
others wait, then find nothing left to do.
https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from sqlalchemy import Connection, text

from feeds import log
from feeds.db import migrations as package
from feeds.db.errors import DatabaseError, MigrationError

#: The advisory lock key of the migrations ("feedsmig" as a 64-bit number); any other use of the lock picks another.
LOCK_KEY = int.from_bytes(b"feedsmig", "big") - (1 << 63)
#: PostgreSQL: how long a starting worker waits for another's migrations, in milliseconds.
LOCK_WAIT_MS = 120_000
_NAME = re.compile(r"m(?P<version>[0-9]{4})_(?P<name>[a-z0-9_]+)")


@dataclass(frozen=True)
class Migration:
    version: int
    #: The module's name after its number (``base`` for ``m0001_base``).
    name: str
    upgrade: Callable[[Connection], None]


def discover(modules: ModuleType = package) -> tuple[Migration, ...]:
    """Return the migrations of ``modules``' package in version order; a gap or a repeated number is a MigrationError."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(modules.__path__):
        match = _NAME.fullmatch(info.name)
        if match is None:
            continue
        module = importlib.import_module(f"{modules.__name__}.{info.name}")
        found.append(Migration(int(match["version"]), match["name"], module.upgrade))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        numbers = ", ".join(f"{m.version:04d}" for m in found)
        raise MigrationError("(schema)", f"migrations must be numbered 0001, 0002, … without gaps or repeats; found {numbers}")
    return tuple(found)


class Migratable(Protocol):
    """What migrating needs of a database (``feeds.db.engine.Database``, which calls :func:`migrate`: typed here, not imported)."""

    @property
    def dialect(self) -> str: ...

    @property
    def display(self) -> str: ...

    def write(self) -> AbstractContextManager[Connection]: ...


def migrate(database: Migratable, migrations: tuple[Migration, ...] | None = None) -> list[int]:
    """Apply the migrations ``database`` lacks, under the lock; return the versions this call applied."""
    migrations = discover() if migrations is None else migrations
    started = time.perf_counter()
    applied: list[int] = []
    current = 0
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
        )
        done = {row[0] for row in connection.execute(text("SELECT version FROM schema_migrations"))}
        current = max(done, default=0)
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                migration.upgrade(connection)  # a failure rolls the whole transaction back: no migration is half applied
            except DatabaseError:
                raise
            except Exception as e:
                raise MigrationError(database.display, f"migration {migration.version:04d}_{migration.name} failed: {e}") from e
            connection.execute(
                text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :at)"),
                {"version": migration.version, "name": migration.name, "at": int(time.time())},
            )
            applied.append(migration.version)
    newest = max((m.version for m in migrations), default=0)
    if current > newest:
        # An older release running beside a newer one (a rolling deploy): the newer schema is a superset.
        log.event("database_newer", logging.WARNING, database=database.display, schema=current, code=newest)
    if applied:
        log.event(
            "migrate",
            database=database.display,
            applied=",".join(f"{v:04d}" for v in applied),
            seconds=f"{time.perf_counter() - started:.3f}",
        )
    return applied
