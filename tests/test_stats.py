"""Subscriber counting's logic on a real database (SQLite and PostgreSQL): User-Agents, batches, counts, history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from feeds.clients import ClientAddress
from feeds.db import Database
from feeds.limits import MAX_FEED_IDS, MAX_PENDING_POLLS, MAX_REPORTED_SUBSCRIBERS
from feeds.stats.agents import AGGREGATORS, Report, classify
from feeds.stats.batch import Batch, reader_id, summarise
from feeds.stats.chart import svg
from feeds.stats.counts import Day, feed_of
from feeds.stats.history import roll_up
from feeds.stats.store import REPORT_EXPIRY, current, history, record, secret_for
from feeds.stats.tally import Tally

FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )"
INOREADER = "Mozilla/5.0 (compatible; inoreader.com; 17 subscribers)"
NEWSBLUR = 'NewsBlur Feed Fetcher - {n} subscribers - https://www.newsblur.com/site/{id}/notes ("Mozilla/5.0 (Macintosh)")'
READER = "NetNewsWire (RSS Reader; https://netnewswire.com/)"
NOON = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()
CLIENTS = ClientAddress(["127.0.0.1"])


@pytest.mark.parametrize(
    ("agent", "kind"),
    [
        (FEEDLY, Report("feedly", "", 42)),
        ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 1 subscribers; like FeedFetcher-Google)", Report("feedly", "", 1)),
        ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)", "aggregator"),
        (INOREADER, Report("inoreader", "", 17)),
        (NEWSBLUR.format(n=27, id=7704055), Report("newsblur", "7704055", 27)),
        ("NewsBlur Feed Fetcher - 1 subscriber - https://www.newsblur.com/site/12/x (x)", Report("newsblur", "12", 1)),
        ("Feedbin feed-id:1697787 - 102 subscribers", Report("feedbin", "1697787", 102)),
        (
            "Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; feed-id=cead6c3a837650eeefd8fe4a)",
            Report("theoldreader", "cead6c3a837650eeefd8fe4a", 1),
        ),
        ("Netvibes (http://www.netvibes.com/; 105 subscribers; feedID: 33718936)", Report("netvibes", "33718936", 105)),
        ("Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 subscribers)", Report("bazqux", "", 3)),
        (
            "Feed Wrangler/1.0 (1 subscriber; feed-id=394524; http://feedwrangler.net; Allow like Gecko)",
            Report("feedwrangler", "394524", 1),
        ),
        (
            "Dreamwidth Studios (webmaster@dreamwidth.org; for https://www.dreamwidth.org/users/x_feed/; 2 readers)",
            Report("dreamwidth", "https://www.dreamwidth.org/users/x_feed/", 2),
        ),
        ("Lion Reader/1.0 (+https://lionreader.com; 5 subscribers)", Report("other:lion-reader", "", 5)),
        ("Mozilla/5.0 (compatible; inoreader.com; 99999999999 subscribers)", Report("inoreader", "", MAX_REPORTED_SUBSCRIBERS)),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "crawler"),
        (READER, "reader"),
        ("feedparser/6.0.11 +https://github.com/kurtmckee/feedparser/", "reader"),
        ("", "reader"),
    ],
)
def test_user_agents_are_classified(agent: str, kind: object) -> None:
    assert classify(agent) == kind


def test_every_aggregator_has_a_reference_and_a_unique_name() -> None:
    assert len({a.name for a in AGGREGATORS}) == len(AGGREGATORS)
    assert all(a.reference.startswith("https://") and re.fullmatch(r"[a-z]+", a.name) for a in AGGREGATORS)


@pytest.mark.parametrize(
    ("path", "feed"),
    [
        ("/feed.xml", ("/", "rss")),
        ("/atom.xml", ("/", "atom")),
        ("/page/3/feed.json", ("/", "json")),
        ("/tags/go/page/2/atom.xml", ("/tags/go/", "atom")),
        ("/tags/go/archive/2/atom.xml", ("/tags/go/", "atom")),
        ("/authors/ana-lima/feed.xml", ("/authors/ana-lima/", "rss")),
        ("/tags/caf\u00e9/feed.xml", ("/tags/caf\u00e9/", "rss")),
        ("/tags/go/", None),
        ("/page/1/feed.xml", None),
        ("/feeds.opml", None),
    ],
)
def test_formats_and_pages_fold_onto_the_feed(path: str, feed: tuple[str, str] | None) -> None:
    assert feed_of(path) == feed


def test_the_tally_is_bounded_and_wakes_the_flusher_at_half() -> None:
    woken: list[int] = []
    tally = Tally(limit=4, on_half_full=lambda: woken.append(len(tally)))
    tally.start(50.0)
    for i in range(6):
        tally.add(("/feed.xml", READER, f"10.0.0.{i}", None, False))
    tally.add(("/feed.xml", READER, "10.0.0.0", None, False))  # a key it has: counted
    assert woken == [2] and len(tally) == 4
    assert tally.drain(100.0) == ([], 2)  # the first drain hands over the (empty) one before it
    tally.refuse(("/feed.xml", READER, "10.0.0.9", None))
    [(polls, refused, started)], dropped = tally.drain(200.0)  # the second, the one the first swapped out
    assert polls[("/feed.xml", READER, "10.0.0.0", None, False)] == 2 and len(polls) == 4 and started == 50.0
    assert refused == set() and dropped == 0
    [(polls, refused, started)], _ = tally.drain(300.0, everything=True)
    assert polls == {} and refused == {("/feed.xml", READER, "10.0.0.9", None)} and started == 100.0
    assert len(tally) == 0 and MAX_PENDING_POLLS >= 1000


def test_a_failed_write_goes_out_with_the_next_drain() -> None:
    tally = Tally(limit=10)
    tally.add(("/feed.xml", READER, "10.0.0.1", None, True))
    generations, _ = tally.drain(10.0, everything=True)
    tally.add(("/feed.xml", READER, "10.0.0.1", None, True))
    tally.restore(generations)
    assert tally.drain(20.0)[0][0].polls == {("/feed.xml", READER, "10.0.0.1", None, True): 1}  # the restored one first
    assert tally.drain(30.0)[0][0].polls == {("/feed.xml", READER, "10.0.0.1", None, True): 1}


def _batch(polls: list[tuple[str, str, str, bool, bool]], at: float = NOON) -> Batch:
    """polls: (path, user agent, client address, conditional, refused), each through a trusted proxy."""
    tally = Tally()
    for path, agent, client, conditional, refused in polls:
        if refused:
            tally.refuse((path, agent, "127.0.0.1", client))
        else:
            tally.add((path, agent, "127.0.0.1", client, conditional))
    generations, dropped = tally.drain(at, everything=True)
    [(drained, refusals, _)] = generations
    return summarise(drained, refusals, CLIENTS.of, datetime.fromtimestamp(at, UTC).date().isoformat(), int(at), dropped)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.close()


def _write(database: Database, batch: Batch) -> None:
    with database.write() as connection:
        record(connection, batch, secret_for(connection, batch.day))


def test_aggregators_count_their_latest_report_summed_over_feed_ids(database: Database) -> None:
    _write(database, _batch([("/feed.xml", FEEDLY.replace("42", "40"), "203.0.113.1", False, False)], at=NOON))
    _write(database, _batch([("/feed.xml", FEEDLY, "203.0.113.2", True, False)], at=NOON + 60))  # another worker, later
    _write(database, _batch([("/feed.xml", FEEDLY.replace("42", "39"), "203.0.113.3", True, False)], at=NOON + 30))  # a late flush
    for site, n in ((1, 5), (2, 7)):  # one aggregator, two of its feed ids: summed
        _write(database, _batch([("/page/2/feed.json", NEWSBLUR.format(n=n, id=site), "203.0.113.9", False, False)]))
    _write(database, _batch([("/tags/go/atom.xml", INOREADER, "203.0.113.5", False, False)], at=NOON - REPORT_EXPIRY - 1))  # stale
    with database.read() as connection:
        counts = current(connection, NOON + 120)
    site = counts.get("/")
    assert site.sources == {"feedly": 42, "newsblur": 12} and site.formats == {"rss": {"feedly": 42}, "json": {"newsblur": 12}}
    assert counts.get("/tags/go/").total == 0


def test_one_aggregator_counts_at_most_its_newest_feed_ids(database: Database) -> None:
    for i in range(MAX_FEED_IDS + 5):
        _write(database, _batch([("/feed.xml", NEWSBLUR.format(n=1, id=i), "203.0.113.9", False, False)], at=NOON + i))
    with database.read() as connection:
        assert current(connection, NOON + 100).get("/").sources == {"newsblur": MAX_FEED_IDS}


def test_direct_readers_are_distinct_pairs_that_came_back(database: Database) -> None:
    polls = [
        # Two readers behind the proxy poll twice; the second also polls Atom (once, conditionally).
        *[("/feed.xml", READER, address, i == 1, False) for address in ("198.51.100.1", "198.51.100.2") for i in range(2)],
        ("/atom.xml", READER, "198.51.100.1", True, False),
        ("/feed.xml", "Other Reader/2.0", "198.51.100.1", True, False),  # another User-Agent at the same address: another reader
        ("/feed.xml", READER, "198.51.100.3", False, False),  # fetched once, unconditionally: not yet a reader
        *[("/feed.xml", "Mozilla/5.0 (compatible; Googlebot/2.1)", "198.51.100.4", True, False)] * 2,  # a crawler
        *[("/tags/go/feed.xml", READER, "198.51.100.5", False, False)] * 3,
        ("/tags/go/feed.xml", READER, "198.51.100.5", False, True),  # then answered 429: never counted that day
    ]
    _write(database, _batch(polls[:3]))
    _write(database, _batch(polls[3:]))  # the same readers on another worker: their polls add up
    with database.read() as connection:
        counts = current(connection, NOON + 60)
        stored = {row[0] for row in connection.execute(text("SELECT reader FROM subscriber_readers"))}
    assert counts.get("/").sources == {"direct": 3}
    assert counts.get("/").formats == {"rss": {"direct": 3}, "atom": {"direct": 1}}
    assert counts.get("/tags/go/").total == 0
    assert all(re.fullmatch(r"[0-9a-f]{32}", reader) for reader in stored)  # no address, no User-Agent
    with database.read() as connection:
        secret = secret_for(connection, "2026-12-01")
    assert reader_id(secret, ("198.51.100.1", READER)) in stored


def test_the_daily_secret_is_shared_and_differs_by_day(database: Database) -> None:
    with database.write() as connection:
        first = secret_for(connection, "2026-12-01")
    with database.write() as connection:
        assert secret_for(connection, "2026-12-01") == first and secret_for(connection, "2026-12-02") != first
    assert reader_id(first, ("198.51.100.1", READER)) != reader_id(secret_for_day(database, "2026-12-02"), ("198.51.100.1", READER))


def secret_for_day(database: Database, day: str) -> bytes:
    with database.read() as connection:
        return secret_for(connection, day)


def test_yesterdays_readers_count_until_today_has_more(database: Database) -> None:
    yesterday = NOON - 86400
    _write(database, _batch([("/feed.xml", READER, f"198.51.100.{i}", True, False) for i in range(5)], at=yesterday))
    _write(database, _batch([("/feed.xml", READER, "198.51.100.1", True, False)], at=NOON))
    with database.read() as connection:
        assert current(connection, NOON).get("/").sources == {"direct": 5}
        assert current(connection, NOON + 86400 * 2).get("/").total == 0  # two days later, nothing recent


def test_the_roll_up_writes_history_and_forgets_readers_after_a_day(database: Database) -> None:
    days = [NOON - 86400 * 2, NOON - 86400, NOON]
    for at in days:
        _write(
            database, _batch([("/feed.xml", READER, "198.51.100.1", True, False), ("/feed.xml", FEEDLY, "203.0.113.1", False, False)], at)
        )
        with database.write() as connection:
            roll_up(connection, at + 3600, retention=400, followers=lambda c: {"/": 3, "/tags/go/": 0})
    with database.read() as connection:
        kept_days = sorted(row[0] for row in connection.execute(text("SELECT DISTINCT day FROM subscriber_readers")))
        key_days = sorted(row[0] for row in connection.execute(text("SELECT day FROM subscriber_keys")))
        by_feed = history(connection, date(2026, 11, 1), date(2026, 12, 1))
    assert kept_days == key_days == ["2026-11-30", "2026-12-01"]  # the day before yesterday's hashes and secret are gone
    assert [d.day.isoformat() for d in by_feed["/"]] == ["2026-11-29", "2026-11-30", "2026-12-01"]
    assert by_feed["/"][-1].sources == {"direct": 1, "feedly": 42, "fediverse": 3}
    assert by_feed["/"][-1].groups() == {"aggregators": 42, "direct": 1, "fediverse": 3}


def test_days_older_than_the_retention_are_summarised_by_month(database: Database) -> None:
    start = datetime(2025, 1, 30, 12, tzinfo=UTC)
    for offset, count in ((0, 10), (1, 20), (2, 30), (3, 40)):  # Jan 30, 31, Feb 1, 2
        with database.write() as connection:
            connection.execute(
                text("INSERT INTO subscriber_daily VALUES (:day, '/', 'all', 'feedly', :n)"),
                {"day": (start + timedelta(days=offset)).date().isoformat(), "n": count},
            )
    with database.write() as connection:  # retention 90 days, on 2025-05-02: every day before 2025-02-01 goes
        roll_up(connection, datetime(2025, 5, 2, 12, tzinfo=UTC).timestamp(), retention=90)
    with database.write() as connection:  # and on the next day, the rest of February
        roll_up(connection, datetime(2025, 6, 2, 12, tzinfo=UTC).timestamp(), retention=90)
    with database.read() as connection:
        monthly = connection.execute(text("SELECT month, days, total, peak FROM subscriber_monthly ORDER BY month")).all()
        left = connection.execute(text("SELECT COUNT(*) FROM subscriber_daily")).scalar()
    assert [tuple(row) for row in monthly] == [("2025-01", 2, 30, 20), ("2025-02", 2, 70, 40)] and left == 0


def test_the_chart_is_an_svg_without_script() -> None:
    days = [Day(date(2026, 11, 20) + timedelta(days=i), {"feedly": 40 + i, "direct": 3, "fediverse": i % 2}) for i in range(12)]
    drawing = svg(days, date(2026, 12, 1), 90, "Notes <&> subscribers")
    assert drawing.startswith("<svg") and drawing.count("<polygon") == 3
    assert "<script" not in drawing and "Notes &lt;&amp;&gt; subscribers" in drawing and ">100<" in drawing
    assert svg(days, date(2026, 12, 1), 90, "x") == svg(days, date(2026, 12, 1), 90, "x")  # deterministic
    assert "no history yet" in svg([], date(2026, 12, 1), 90, "x")
