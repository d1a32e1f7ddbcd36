"""The render caches that see a post's HTML are bounded by bytes: a builder rendering in its own process keeps little.

``feed_entry`` keeps feedgen entries (each holds its post's whole HTML) up to
FEED_ENTRY_BYTES; the HTML pages' list items are kept by what they show, so they
never hold a post's HTML at all.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from datetime import UTC, datetime

from feeds.models import Entry, Post, Tag
from feeds.render import pages
from feeds.render.bounded import ByteBounded
from feeds.render.formats import _feedgen

AUTHORS = ()
#: A post body far above any budget share: the test's posts would pin tens of megabytes if kept.
BIG = 1 << 20


def _entry(n: int) -> Entry:
    when = datetime(2026, 1, 1 + n % 28, tzinfo=UTC)
    post = Post(
        source=f"p{n}.md", id=f"tag:x,2026:p{n}", slug=f"p{n}", title=f"Post {n}", url=f"https://x/p{n}/",
        link=f"https://x/p{n}/", published=when, updated=when, body_digest=f"{n:064d}", reading_time=3,
    )  # fmt: skip
    # A fresh string each time (never interned or shared): only a cache can keep it alive.
    return Entry(post, "<p>" + str(n) * (BIG // len(str(n))) + "</p>", f"Summary {n}.", (Tag("go", "Go"),))


def _traced_after(call: object) -> int:
    """Bytes still traced after ``call(entry)`` for 40 entries of 1 MB of HTML each, none of them kept by the test."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(40):
            call(_entry(n))  # type: ignore[operator]
        gc.collect()  # a feedgen entry is a cycle (its extension class): a dropped one goes at the next collection
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_feed_entries_keep_at_most_their_budget_of_html() -> None:
    _feedgen.feed_entry.cache_clear()
    held = _traced_after(lambda e: _feedgen.feed_entry(e, AUTHORS, True, None, False))
    # 40 MB rendered; what is kept is the budget (16 MB) at most, plus the entries' feedgen records.
    assert _feedgen.feed_entry.held <= _feedgen.FEED_ENTRY_BYTES
    assert held < _feedgen.FEED_ENTRY_BYTES + (4 << 20)
    assert 0 < len(_feedgen.feed_entry) < 40
    # The most recent ones are kept, and answered without rendering again.
    last = _entry(39)
    assert _feedgen.feed_entry(last, AUTHORS, True, None, False) is _feedgen.feed_entry(last, AUTHORS, True, None, False)
    _feedgen.feed_entry.cache_clear()


def test_list_items_never_hold_a_posts_html() -> None:
    held = _traced_after(lambda e: pages.entry_html(e, "https://x"))
    assert held < BIG  # 40 list items kept, none with its post's megabyte of HTML


def test_a_list_item_is_rendered_once_and_shows_what_it_did() -> None:
    entry = _entry(7)
    html = pages.entry_html(entry, "https://x")
    assert pages.entry_html(_entry(7), "https://x") is html  # equal entries: the kept item
    assert '<a href="https://x/p7/">Post 7</a>' in html and "Summary 7." in html and "3 min read" in html
    assert '<time datetime="2026-01-08T00:00:00+00:00">2026-01-08</time>' in html and ">Go</a>" in html


def test_byte_bounded_keeps_the_most_recently_used_within_its_budget() -> None:
    calls: list[int] = []

    def double(n: int) -> list[int]:
        calls.append(n)
        return [n] * n

    kept = ByteBounded(double, 10, lambda answer, n: n)
    assert kept(4) == [4, 4, 4, 4] and kept(5) == [5] * 5 and kept(4) == [4] * 4
    assert calls == [4, 5] and kept.held == 9
    kept(3)  # 12 > 10: the least recently used (5) goes
    assert kept.held == 7 and len(kept) == 2
    kept(4), kept(5)
    assert calls == [4, 5, 3, 5]
    kept(11)  # heavier than the whole budget: answered, not kept
    assert kept(11) == [11] * 11 and calls[-2:] == [11, 11] and kept.held <= 10


def test_byte_bounded_from_several_threads() -> None:
    kept = ByteBounded(lambda n: n * 2, 1000, lambda answer, n: 10)
    errors: list[BaseException] = []

    def run(offset: int) -> None:
        try:
            for n in range(500):
                assert kept((n + offset) % 300) == ((n + offset) % 300) * 2
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k * 37,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and kept.held == 10 * len(kept) <= 1000
