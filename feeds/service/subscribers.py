"""Subscriber counting in a worker: polls tallied in memory, written in batches by one thread, counts read back.

A request only bumps an entry of the worker's Tally (``feeds.stats.tally``;
the web edge calls ``tally.add`` as each answer starts). The flusher thread
drains it every ``stats_flush_interval`` seconds, at UTC midnight (so each
poll counts on its day), early when it is half full, and once more when the
worker stops: it classifies the User-Agents, hashes the readers and writes one
transaction (``feeds.stats.store.record``). Every few minutes it also tries
the cluster-wide roll-up lease and, if it gets it, writes the daily history
(``feeds.stats.history``). Counts are read back from the database (cached
briefly), so every worker and host shows the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from feeds import log
from feeds.clients import ClientAddress
from feeds.config import Config
from feeds.service.database import DatabaseService
from feeds.stats.counts import Counts, Day
from feeds.stats.tally import Tally

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from feeds.stats.store import FollowerCounts

#: Seconds between tries at the cluster-wide history roll-up (the lease lasts as long).
ROLLUP_INTERVAL = 300.0
#: Longest time counts read from the database are reused for /metrics and the pages, in seconds.
CACHE_SECONDS = 5.0
#: How long a read of the counts waits for the database to open.
DATABASE_WAIT = 5.0
#: Days the pages chart.
CHART_DAYS = 90
_LEASE = "stats.roll_up"


def follower_counts(config: Config) -> FollowerCounts:
    """Where fediverse follower counts come from: the followers of the site's and each tag's account, by scope prefix.

    With ``fediverse = false`` none are counted: nobody is delivered to (follows kept from before stay unused).
    """
    from feeds.stats.store import no_followers

    if not config.fediverse:
        return no_followers
    from feeds.fediverse.store import follower_counts as by_scope

    return by_scope


class SubscriberCounter:
    """Counts this worker's polls and writes them; ``current()`` and ``history()`` read every worker's counts back."""

    def __init__(
        self,
        config: Config,
        database: DatabaseService,
        followers: FollowerCounts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.database = database
        self.followers = followers or follower_counts(config)
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        #: What requests add to (``Tally.add``); drained by the flusher.
        self.tally = Tally(on_half_full=self._wake.set)
        self.tally.start(clock())
        self.client = ClientAddress(config.trusted_proxies)
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        #: The secrets of the days written lately (a day's is the same on every worker: it comes from the database).
        self._secrets: dict[str, bytes] = {}
        self._cached: tuple[float, Counts] | None = None
        self._holder = ""

    # -- start and stop -------------------------------------------------------------------

    def start(self) -> SubscriberCounter:
        """Open the database (in the background) and start the flusher thread."""
        if self._thread is None:
            self.database.start()
            self._thread = threading.Thread(target=self._run, name="feeds-subscribers", daemon=True)
            self._thread.start()
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Write what is left (by ``deadline``, a ``time.monotonic()`` value) and stop. Safe to call twice."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.event("stats_stop_late", logging.WARNING, pending=len(self.tally))

    def _run(self) -> None:
        next_roll_up = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(self._until_next_flush())
            self._wake.clear()
            if self._stopping.is_set():
                break
            self._try(self.flush)
            if time.monotonic() >= next_roll_up and self.database.ready:
                self._try(self.roll_up)
                next_roll_up = time.monotonic() + ROLLUP_INTERVAL
        if self.database.ready:  # the last polls of a stopping worker
            self._try(lambda: self.flush(final=True))

    def _until_next_flush(self) -> float:
        now = self.clock()
        midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return max(0.001, min(float(self.config.stats_flush_interval), midnight.timestamp() - now + 0.001))

    def _try(self, work: Callable[[], object]) -> None:
        from feeds.db import DatabaseError

        try:
            work()
        except DatabaseError as e:
            log.event("stats_failed", logging.ERROR, work=getattr(work, "__name__", "?"), error=str(e))
        except Exception:  # the flusher must outlive any surprise
            logging.getLogger("feeds").exception("subscriber counting failed")

    # -- writing ----------------------------------------------------------------------------

    def flush(self, final: bool = False) -> int:
        """Write the polls of the tally before the current one (``final``: of both) in one transaction; return how many.

        Nothing while the database is not open: the polls wait in the tally.
        """
        from feeds.db import DatabaseError
        from feeds.stats.batch import summarise
        from feeds.stats.store import day_of, record

        with self._flush_lock:
            if not self.database.ready:
                return 0  # the polls stay in the tally (up to its limit) until the database opens
            database = self.database.wait(0)
            now = self.clock()
            generations, dropped = self.tally.drain(now, everything=final)
            if not generations and not dropped:
                return 0
            timer = time.perf_counter()
            batches = [summarise(g.polls, g.refused, self.client.of, day_of(g.started or now), int(now)) for g in generations]
            try:
                with database.write() as connection:
                    rows = 0
                    for batch in batches:  # each on its day (at stop: up to two, either side of midnight)
                        rows += record(connection, batch, self._secret_for(connection, batch.day))
            except DatabaseError:
                self.tally.restore(generations)
                log.tally("stats_flush_failed", polls=sum(b.polls for b in batches), dropped=dropped)
                raise
            self._cached = None
            polls = sum(b.polls for b in batches)
            log.tally("stats_flush", polls=polls, rows=rows, dropped=dropped, seconds=time.perf_counter() - timer)
            return polls

    def _secret_for(self, connection: Connection, day: str) -> bytes:
        from feeds.stats.store import secret_for

        if day not in self._secrets:
            self._secrets = {day: secret_for(connection, day), **{d: s for d, s in self._secrets.items() if d > day}}
        return self._secrets[day]

    def roll_up(self) -> bool:
        """Write the daily history if this process gets the cluster's roll-up lease; return whether it did."""
        from feeds.db import lease
        from feeds.stats.history import roll_up

        database = self.database.wait(DATABASE_WAIT)
        self._holder = self._holder or lease.this_process()
        timer = time.perf_counter()
        with database.write() as connection:
            if not lease.acquire(connection, _LEASE, self._holder, ROLLUP_INTERVAL * 0.9, now=self.clock()):
                return False
            done = roll_up(connection, self.clock(), self.config.stats_retention, self.followers)
        log.event("stats_roll_up", seconds=f"{time.perf_counter() - timer:.3f}", **done)
        return True

    # -- reading ----------------------------------------------------------------------------

    def current(self, max_age: float = CACHE_SECONDS) -> Counts:
        """Every worker's counts now (read at most every ``max_age`` seconds); DatabaseError if the database is not open."""
        from feeds.stats.store import current

        now = self.clock()
        cached = self._cached
        if cached is not None and 0 <= now - cached[0] < min(max_age, self.config.stats_flush_interval):
            return cached[1]
        database = self.database.wait(DATABASE_WAIT)
        with database.read() as connection:
            counts = current(connection, now, self.followers)
        self._cached = (now, counts)
        return counts

    def history(self, days: int = CHART_DAYS) -> dict[str, list[Day]]:
        """Each feed's last ``days`` days, oldest first, today's as it is now."""
        from feeds.stats.store import history

        counts = self.current()
        today = counts.at.date()
        database = self.database.wait(DATABASE_WAIT)
        with database.read() as connection:
            by_feed = history(connection, today - timedelta(days=days - 1), today - timedelta(days=1))
        for feed, now in counts.feeds.items():
            by_feed.setdefault(feed, []).append(Day(today, dict(now.sources)))
        return by_feed
