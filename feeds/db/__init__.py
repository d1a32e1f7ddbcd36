"""The database every worker and host shares: SQLite by default, PostgreSQL for several hosts.

Public face: :class:`Database` (``read()`` and ``write()`` transactions,
``migrate()``), :func:`open_database`, the errors, and leases
(``feeds.db.lease``). Migrations are numbered modules in
``feeds/db/migrations/``. See docs/database.md.
"""

from __future__ import annotations

from pathlib import Path

from feeds.config import Config
from feeds.db.engine import Database, default_url
from feeds.db.errors import DatabaseError, MigrationError

__all__ = ["Database", "DatabaseError", "MigrationError", "default_url", "open_database"]


def open_database(config: Config, folder: Path, migrate: bool = True) -> Database:
    """Open ``database_url`` (default: ``feeds.db`` in the snapshot ``folder``) and bring its schema up to date."""
    database = Database(config.database_url or default_url(folder))
    if migrate:
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
    return database
