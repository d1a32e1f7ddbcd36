"""The database's errors: every failure to open, migrate or use it is a DatabaseError naming the database."""

from __future__ import annotations

from feeds.errors import FeedsError

#: Longest driver message kept in an error (a driver may quote a whole statement or its values).
MESSAGE_LIMIT = 300


class DatabaseError(FeedsError):
    """The database cannot be opened, migrated or used; names it (without its password) and says why."""

    def __init__(self, database: str, message: str) -> None:
        message = " ".join(message.split())
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 1] + "…"
        super().__init__(f"database {database}: {message}")
        self.database = database
        self.message = message

    def __reduce__(self) -> tuple[type[DatabaseError], tuple[str, str]]:
        # Rebuilt from its arguments, not from str(self), like every error of the package (docs/errors.md).
        return (type(self), (self.database, self.message))


class MigrationError(DatabaseError):
    """A numbered migration failed (nothing of it was applied) or the migrations themselves are inconsistent."""
