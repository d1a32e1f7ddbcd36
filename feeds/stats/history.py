"""Daily history: today's counts written into ``subscriber_daily``, raw rows dropped, old days summarised by month.

One process in the cluster runs :func:`roll_up` at a time (under a lease,
``feeds.service.subscribers``), every few minutes and after midnight:

- direct readers of every day that still has raw rows (today's so far, and
  yesterday's final count), then the raw rows of older days and their secrets
  are deleted: a reader's hash lives at most until the end of the next day;
- today's aggregator reports and fediverse followers, as they are now (so a
  day's row holds its last value of the day);
- days older than ``stats_retention`` are folded into ``subscriber_monthly``
  (days, sum and peak per month, feed, format and source) and deleted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from feeds.stats.counts import ALL, DIRECT, FEDIVERSE
from feeds.stats.store import REPORT_KEPT, FollowerCounts, aggregator_reports, direct_readers, no_followers

_DAILY = text("INSERT INTO subscriber_daily (day, feed, format, source, subscribers) VALUES (:day, :feed, :format, :source, :subscribers)")
_SUMMARISE = text(
    """INSERT INTO subscriber_monthly (month, feed, format, source, days, total, peak)
    SELECT SUBSTR(day, 1, 7), feed, format, source, COUNT(*), SUM(subscribers), MAX(subscribers)
    FROM subscriber_daily WHERE day < :cutoff GROUP BY SUBSTR(day, 1, 7), feed, format, source
    ON CONFLICT (month, feed, format, source) DO UPDATE SET days = subscriber_monthly.days + excluded.days,
        total = subscriber_monthly.total + excluded.total,
        peak = CASE WHEN excluded.peak > subscriber_monthly.peak THEN excluded.peak ELSE subscriber_monthly.peak END"""
)


def roll_up(connection: Connection, now: float, retention: int, followers: FollowerCounts = no_followers) -> dict[str, int]:
    """Write today's history, drop raw rows and secrets older than yesterday, summarise days older than ``retention``."""
    today = datetime.fromtimestamp(now, UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    written = 0
    raw_days = [
        row[0]
        for row in connection.execute(text("SELECT DISTINCT day FROM subscriber_readers WHERE day <= :today"), {"today": today.isoformat()})
    ]
    for day in sorted(raw_days):
        rows = [
            {"day": day, "feed": feed, "format": fmt, "source": DIRECT, "subscribers": count}
            for (feed, fmt), count in sorted(direct_readers(connection, day).items())
        ]
        connection.execute(text("DELETE FROM subscriber_daily WHERE day = :day AND source = :direct"), {"day": day, "direct": DIRECT})
        if rows:
            connection.execute(_DAILY, rows)
        written += len(rows)
    written += _today(connection, today, now, followers)
    removed = 0
    for table in ("subscriber_readers", "subscriber_refused", "subscriber_keys"):
        removed += connection.execute(text(f"DELETE FROM {table} WHERE day < :yesterday"), {"yesterday": yesterday}).rowcount
    removed += connection.execute(text("DELETE FROM subscriber_reports WHERE seen_at < :since"), {"since": int(now) - REPORT_KEPT}).rowcount
    cutoff = (today - timedelta(days=retention)).isoformat()
    connection.execute(_SUMMARISE, {"cutoff": cutoff})
    summarised = connection.execute(text("DELETE FROM subscriber_daily WHERE day < :cutoff"), {"cutoff": cutoff}).rowcount
    return {"written": written, "removed": removed, "summarised": summarised}


def _today(connection: Connection, today: date, now: float, followers: FollowerCounts) -> int:
    """Replace today's rows of every source but direct readers with the counts as they are now."""
    day = today.isoformat()
    connection.execute(text("DELETE FROM subscriber_daily WHERE day = :day AND source <> :direct"), {"day": day, "direct": DIRECT})
    rows: dict[tuple[str, str, str], int] = {}
    for (feed, fmt, aggregator), count in aggregator_reports(connection, now).items():
        rows[(feed, fmt, aggregator)] = count
        rows[(feed, ALL, aggregator)] = rows.get((feed, ALL, aggregator), 0) + count
    for feed, count in followers(connection).items():
        if count:
            rows[(feed, ALL, FEDIVERSE)] = int(count)
    values = [{"day": day, "feed": f, "format": fmt, "source": s, "subscribers": n} for (f, fmt, s), n in sorted(rows.items())]
    if values:
        connection.execute(_DAILY, values)
    return len(values)
