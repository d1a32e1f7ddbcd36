"""Subscriber counts in the database (tables of ``feeds/db/migrations/m0001_base.py``): write batches, read counts.

Every function takes a connection inside a transaction (``Database.read()`` /
``write()``) and writes SQL both SQLite and PostgreSQL run as it is. Counts add
up across workers and hosts because every write is an upsert that adds
(polls) or keeps the latest (reports).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from feeds.limits import MAX_FEED_IDS
from feeds.stats.batch import Batch, reader_id
from feeds.stats.counts import ALL, DIRECT, FEDIVERSE, Counts, Day, FeedCounts

#: Followers per feed prefix (``/`` the site's account, ``/tags/<slug>/`` a tag's), read in the given transaction.
FollowerCounts = Callable[[Connection], Mapping[str, int]]
#: Seconds an aggregator's report counts after it was last seen: one that stops polling (its last
#: subscriber left, or it went away) drops out after this.
REPORT_EXPIRY = 3 * 86400
#: Seconds a report is kept in the table at all (for an aggregator that polls rarely).
REPORT_KEPT = 30 * 86400


def no_followers(connection: Connection) -> Mapping[str, int]:
    """Follower counts while the fediverse has none (its tables do not exist, or it is off)."""
    return {}


def day_of(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


def secret_for(connection: Connection, day: str) -> bytes:
    """The day's secret for hashing readers, made by whichever worker asks first; the same for every worker and host."""
    query = text("SELECT secret FROM subscriber_keys WHERE day = :day")
    row = connection.execute(query, {"day": day}).first()
    if row is None:
        connection.execute(
            text("INSERT INTO subscriber_keys (day, secret) VALUES (:day, :secret) ON CONFLICT (day) DO NOTHING"),
            {"day": day, "secret": secrets.token_hex(32)},
        )
        row = connection.execute(query, {"day": day}).one()
    return bytes.fromhex(row[0])


_REPORT = text(
    """INSERT INTO subscriber_reports (feed, format, aggregator, feed_id, subscribers, seen_at)
    VALUES (:feed, :format, :aggregator, :feed_id, :subscribers, :at)
    ON CONFLICT (feed, format, aggregator, feed_id) DO UPDATE SET subscribers = excluded.subscribers, seen_at = excluded.seen_at
    WHERE excluded.seen_at >= subscriber_reports.seen_at"""
)
_READER = text(
    """INSERT INTO subscriber_readers (day, feed, format, reader, polls, conditional)
    VALUES (:day, :feed, :format, :reader, :polls, :conditional)
    ON CONFLICT (day, feed, format, reader) DO UPDATE SET polls = subscriber_readers.polls + excluded.polls,
    conditional = CASE WHEN excluded.conditional > subscriber_readers.conditional THEN excluded.conditional
                  ELSE subscriber_readers.conditional END"""
)
_REFUSED = text("INSERT INTO subscriber_refused (day, reader) VALUES (:day, :reader) ON CONFLICT (day, reader) DO NOTHING")


def record(connection: Connection, batch: Batch, secret: bytes) -> int:
    """Write a batch (its readers hashed with ``secret``, the secret of ``batch.day``); return the rows written."""
    reports = [
        {"feed": feed, "format": fmt, "aggregator": aggregator, "feed_id": feed_id, "subscribers": count, "at": batch.at}
        for (feed, fmt, aggregator, feed_id), count in sorted(batch.reports.items())
    ]
    readers = [
        {"day": batch.day, "feed": feed, "format": fmt, "reader": reader_id(secret, pair), "polls": polls, "conditional": int(conditional)}
        for (feed, fmt, pair), (polls, conditional) in batch.readers.items()
    ]
    refused = [{"day": batch.day, "reader": reader_id(secret, pair)} for pair in batch.refused]
    # Sorted, so that concurrent writers take row locks in one order (PostgreSQL: no deadlock between two workers).
    readers.sort(key=lambda row: (row["feed"], row["format"], row["reader"]))
    refused.sort(key=lambda row: row["reader"])
    for statement, rows in ((_REPORT, reports), (_READER, readers), (_REFUSED, refused)):
        if rows:
            connection.execute(statement, rows)
    return len(reports) + len(readers) + len(refused)


_COUNTED = """FROM subscriber_readers r WHERE r.day = :day AND (r.polls >= 2 OR r.conditional = 1)
    AND NOT EXISTS (SELECT 1 FROM subscriber_refused x WHERE x.day = r.day AND x.reader = r.reader)"""


def direct_readers(connection: Connection, day: str) -> dict[tuple[str, str], int]:
    """Direct readers of one day: (feed, format) → distinct pairs that polled twice or conditionally and were never refused.

    The format ``all`` counts a pair once across the feed's formats.
    """
    counts: dict[tuple[str, str], int] = {}
    for feed, fmt, count in connection.execute(
        text(f"SELECT r.feed, r.format, COUNT(*) {_COUNTED} GROUP BY r.feed, r.format"), {"day": day}
    ):
        counts[(feed, fmt)] = int(count)
    for feed, count in connection.execute(text(f"SELECT r.feed, COUNT(DISTINCT r.reader) {_COUNTED} GROUP BY r.feed"), {"day": day}):
        counts[(feed, ALL)] = int(count)
    return counts


def aggregator_reports(connection: Connection, now: float) -> dict[tuple[str, str, str], int]:
    """(feed, format, aggregator) → subscribers: the sum over the aggregator's feed ids (the newest MAX_FEED_IDS) not yet expired."""
    query = text(
        """SELECT feed, format, aggregator, SUM(subscribers) FROM (
            SELECT feed, format, aggregator, subscribers,
                   ROW_NUMBER() OVER (PARTITION BY feed, format, aggregator ORDER BY seen_at DESC, feed_id) AS n
            FROM subscriber_reports WHERE seen_at >= :since) ranked
        WHERE n <= :ids GROUP BY feed, format, aggregator"""
    )
    rows = connection.execute(query, {"since": int(now) - REPORT_EXPIRY, "ids": MAX_FEED_IDS})
    return {(feed, fmt, aggregator): int(count) for feed, fmt, aggregator, count in rows}


def current(connection: Connection, now: float, followers: FollowerCounts = no_followers) -> Counts:
    """The counts now: live aggregator reports, direct readers (the larger of today so far and yesterday), followers."""
    today = datetime.fromtimestamp(now, UTC).date()
    direct = direct_readers(connection, today.isoformat())
    for key, count in direct_readers(connection, (today - timedelta(days=1)).isoformat()).items():
        direct[key] = max(direct.get(key, 0), count)
    sources: dict[str, dict[str, int]] = defaultdict(dict)
    formats: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for (feed, fmt, aggregator), count in aggregator_reports(connection, now).items():
        formats[feed][fmt][aggregator] = count
        sources[feed][aggregator] = sources[feed].get(aggregator, 0) + count
    for (feed, fmt), count in direct.items():
        if fmt == ALL:
            sources[feed][DIRECT] = count
        else:
            formats[feed][fmt][DIRECT] = count
    for feed, count in followers(connection).items():
        if count:
            sources[feed][FEDIVERSE] = int(count)
    feeds = {
        feed: FeedCounts(feed, {k: v for k, v in by_source.items() if v}, {f: dict(s) for f, s in formats[feed].items()})
        for feed, by_source in sources.items()
        if any(by_source.values())
    }
    return Counts(datetime.fromtimestamp(now, UTC), feeds)


def history(connection: Connection, first: date, last: date) -> dict[str, list[Day]]:
    """Each feed's days from ``first`` to ``last`` (inclusive) that have history, oldest first; formats folded."""
    query = text("SELECT day, feed, source, subscribers FROM subscriber_daily WHERE format = :all AND day >= :first AND day <= :last")
    days: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for day, feed, source, count in connection.execute(query, {"all": ALL, "first": first.isoformat(), "last": last.isoformat()}):
        days[feed][day][source] = int(count)
    return {feed: [Day(date.fromisoformat(day), sources) for day, sources in sorted(by_day.items())] for feed, by_day in days.items()}
