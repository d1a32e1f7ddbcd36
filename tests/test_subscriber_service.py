"""The subscriber counter as a service: written at stop, the day a poll counts on, the roll-up once per cluster."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from feeds.config import load_config
from feeds.service.database import DatabaseService
from feeds.service.subscribers import SubscriberCounter

READER = "NetNewsWire (RSS Reader; https://netnewswire.com/)"


def _counter(tmp_path: Path, database_url: str, clock: list[float] | None = None) -> SubscriberCounter:
    config = load_config(env={}, overrides={"content_dir": str(tmp_path), "database_url": database_url, "stats_flush_interval": 3600})
    database = DatabaseService(config, tmp_path)
    return SubscriberCounter(config, database, clock=(lambda: clock[0]) if clock else time.time)


def test_a_stopping_worker_writes_what_it_counted(tmp_path: Path, database_url: str) -> None:
    """No periodic write comes (an hour apart): the polls reach the database only through the stop."""
    counter = _counter(tmp_path, database_url).start()
    counter.database.wait(60)
    for _ in range(2):
        counter.tally.add(("/feed.xml", READER, "127.0.0.1", "198.51.100.7", True))
    assert counter.current(max_age=0).get("/").total == 0  # could be counted, is not written yet
    counter.stop(time.monotonic() + 10)
    reader = _counter(tmp_path, database_url)
    reader.database.start().wait(60)
    assert reader.current(max_age=0).get("/").sources == {"direct": 1}
    reader.database.stop()
    counter.database.stop()


def test_polls_count_on_the_day_they_were_answered(tmp_path: Path, database_url: str) -> None:
    before_midnight = datetime(2026, 12, 1, 23, 59, 58, tzinfo=UTC).timestamp()
    clock = [before_midnight]
    counter = _counter(tmp_path, database_url, clock)
    counter.database.start().wait(60)
    assert 2.0 < counter._until_next_flush() < 2.01  # the flusher wakes at midnight, not an hour later
    counter.tally.start(before_midnight)
    counter.tally.add(("/feed.xml", READER, "127.0.0.1", "198.51.100.7", True))
    clock[0] = before_midnight + 2.001  # the midnight wake
    counter.flush()
    counter.tally.add(("/feed.xml", READER, "127.0.0.1", "198.51.100.8", True))  # a poll of the new day
    clock[0] += 30
    counter.flush(final=True)
    assert counter.current(max_age=0).get("/").sources == {"direct": 1}  # today: the 2nd's reader; yesterday's had 1
    clock[0] += 86400  # the 3rd: yesterday (the 2nd) had one reader, the 1st is two days back
    assert counter.current(max_age=0).get("/").sources == {"direct": 1}
    from feeds.stats.store import direct_readers

    with counter.database.wait(1).read() as connection:
        assert direct_readers(connection, "2026-12-01") == {("/", "rss"): 1, ("/", "all"): 1}
        assert direct_readers(connection, "2026-12-02") == {("/", "rss"): 1, ("/", "all"): 1}
    counter.database.stop()


def test_one_process_in_the_cluster_rolls_up(tmp_path: Path, database_url: str) -> None:
    counters = [_counter(tmp_path / str(i), database_url) for i in range(2)]
    for counter in counters:
        (tmp_path / str(counters.index(counter))).mkdir()
        counter.database.start().wait(60)
    counters[1]._holder = "another-host:1"
    assert [counter.roll_up() for counter in counters] == [True, False]
    assert counters[0].roll_up()  # the holder renews its own lease
    for counter in counters:
        counter.database.stop()
