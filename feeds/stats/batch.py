"""A drained tally made into what is written: aggregator reports and keyed hashes of direct readers.

Runs in the flusher thread, never in a request. Polls of a URL that is not a
feed are left out; aggregators' polls become reports (the latest count per
aggregator, feed, format and the aggregator's feed id); crawlers' and silent
aggregators' polls are left out; every other poll is a direct reader's,
identified by (client, User-Agent). That pair is kept only as an HMAC keyed by
the day's secret (``feeds.stats.store.secret_for``), so no address is ever
written; pairs answered 429 are kept apart and never counted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from feeds.limits import MAX_USER_AGENT
from feeds.stats.agents import Report, classify
from feeds.stats.counts import feed_of
from feeds.stats.tally import Client, Key

#: (client, User-Agent)
Pair = tuple[str, str]


@dataclass(frozen=True)
class Batch:
    #: The UTC day the polls were answered on (``YYYY-MM-DD``).
    day: str
    #: When the batch was taken, whole seconds since the epoch (the time of its reports).
    at: int
    #: (feed, format, aggregator, feed id) → subscribers reported.
    reports: Mapping[tuple[str, str, str, str], int]
    #: (feed, format, pair) → (polls, whether any was conditional).
    readers: Mapping[tuple[str, str, Pair], tuple[int, bool]]
    #: Pairs answered 429 in the batch.
    refused: frozenset[Pair]
    #: Polls in the batch, and polls the tally dropped (it was full).
    polls: int = 0
    dropped: int = 0


def summarise(
    polls: Mapping[Key, int], refusals: Iterable[Client], client_of: Callable[[str, str], str], day: str, at: int, dropped: int = 0
) -> Batch:
    """Turn a drained tally into a Batch; ``client_of(peer, forwarded)`` names the client behind trusted proxies."""
    reports: dict[tuple[str, str, str, str], int] = {}
    readers: dict[tuple[str, str, Pair], tuple[int, bool]] = {}
    refused: set[Pair] = set()
    for _, agent, peer, forwarded in refusals:
        agent = agent[:MAX_USER_AGENT]
        if classify(agent) == "reader":
            refused.add((client_of(peer, forwarded or ""), agent))
    for (path, agent, peer, forwarded, conditional), count in polls.items():
        agent = agent[:MAX_USER_AGENT]
        feed = feed_of(path)
        if feed is None:
            continue
        kind = classify(agent)
        if isinstance(kind, Report):
            reports[(*feed, kind.aggregator, kind.feed_id)] = kind.subscribers
        elif kind == "reader":
            key = (*feed, (client_of(peer, forwarded or ""), agent))
            old_polls, old_conditional = readers.get(key, (0, False))
            readers[key] = (old_polls + count, old_conditional or conditional)
    return Batch(day, at, reports, readers, frozenset(refused), sum(polls.values()), dropped)


def reader_id(secret: bytes, pair: Pair) -> str:
    """The keyed hash that stands for a (client, User-Agent) pair on one day: 128 bits of HMAC-SHA256, hex."""
    message = f"{pair[0]}\n{pair[1]}".encode("utf-8", "surrogateescape")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]
