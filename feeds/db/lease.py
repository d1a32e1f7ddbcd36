"""Leases: one holder per name across every worker and host, for work that must run once per cluster.

A lease is a row (name, holder, expiry). ``acquire`` takes it when it is free
or expired, or renews it for its holder, in one upsert; a holder that dies
simply lets it expire. Used for the subscriber history roll-up (once per
interval per cluster) and, by the fediverse, for the one process that delivers.
"""

from __future__ import annotations

import os
import socket
import time

from sqlalchemy import Connection, text

_ACQUIRE = text(
    """INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :expires)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder OR leases.expires_at <= :now"""
)


def this_process() -> str:
    """A holder name for this process: host and pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def acquire(connection: Connection, name: str, holder: str, seconds: float, now: float | None = None) -> bool:
    """Take or renew lease ``name`` for ``seconds``; return whether ``holder`` holds it now."""
    now_ms = int((time.time() if now is None else now) * 1000)
    result = connection.execute(_ACQUIRE, {"name": name, "holder": holder, "expires": now_ms + int(seconds * 1000), "now": now_ms})
    return result.rowcount == 1


def release(connection: Connection, name: str, holder: str) -> None:
    """Give lease ``name`` up, if ``holder`` holds it."""
    connection.execute(text("DELETE FROM leases WHERE name = :name AND holder = :holder"), {"name": name, "holder": holder})


def holder_of(connection: Connection, name: str, now: float | None = None) -> str | None:
    """Return who holds lease ``name`` now, or None."""
    now_ms = int((time.time() if now is None else now) * 1000)
    row = connection.execute(
        text("SELECT holder FROM leases WHERE name = :name AND expires_at > :now"), {"name": name, "now": now_ms}
    ).first()
    return None if row is None else str(row[0])
