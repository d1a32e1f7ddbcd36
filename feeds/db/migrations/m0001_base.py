"""The base schema: cluster-wide leases, and subscriber counts (issue 18).

Types are the ones both databases read the same way: TEXT, BIGINT, INTEGER.
Times are whole seconds (leases: milliseconds) since the epoch, days are
``YYYY-MM-DD`` in UTC, months ``YYYY-MM``.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

STATEMENTS = (
    # One holder per name across every worker and host (feeds.db.lease).
    """CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    )""",
    # The latest count each aggregator reported in its User-Agent, per feed, format and its own feed id.
    """CREATE TABLE subscriber_reports (
        feed TEXT NOT NULL,
        format TEXT NOT NULL,
        aggregator TEXT NOT NULL,
        feed_id TEXT NOT NULL,
        subscribers BIGINT NOT NULL,
        seen_at BIGINT NOT NULL,
        PRIMARY KEY (feed, format, aggregator, feed_id)
    )""",
    # The day's secret for hashing (client, User-Agent) pairs; deleted once its day is over.
    """CREATE TABLE subscriber_keys (
        day TEXT PRIMARY KEY,
        secret TEXT NOT NULL
    )""",
    # Direct readers: one row per keyed hash of (client, User-Agent), per day, feed and format.
    """CREATE TABLE subscriber_readers (
        day TEXT NOT NULL,
        feed TEXT NOT NULL,
        format TEXT NOT NULL,
        reader TEXT NOT NULL,
        polls BIGINT NOT NULL,
        conditional INTEGER NOT NULL,
        PRIMARY KEY (day, feed, format, reader)
    )""",
    # Pairs answered 429 that day: never counted as readers.
    """CREATE TABLE subscriber_refused (
        day TEXT NOT NULL,
        reader TEXT NOT NULL,
        PRIMARY KEY (day, reader)
    )""",
    # Daily history: format is rss, atom, json or "all" (the feed's formats folded); source an aggregator, direct or fediverse.
    """CREATE TABLE subscriber_daily (
        day TEXT NOT NULL,
        feed TEXT NOT NULL,
        format TEXT NOT NULL,
        source TEXT NOT NULL,
        subscribers BIGINT NOT NULL,
        PRIMARY KEY (day, feed, format, source)
    )""",
    # Days older than stats_retention, summarised: the sum over the month's days (mean = total / days) and the peak.
    """CREATE TABLE subscriber_monthly (
        month TEXT NOT NULL,
        feed TEXT NOT NULL,
        format TEXT NOT NULL,
        source TEXT NOT NULL,
        days INTEGER NOT NULL,
        total BIGINT NOT NULL,
        peak BIGINT NOT NULL,
        PRIMARY KEY (month, feed, format, source)
    )""",
)


def upgrade(connection: Connection) -> None:
    for statement in STATEMENTS:
        connection.execute(text(statement))
