"""One shard of the saved content index as bytes: a version line, then MessagePack data, never code.

The saved state was a pickle, and unpickling runs whatever the file says: anyone who
could write the snapshot folder could run code in the service at its next start. Now
it is data only (https://msgpack.org/), read with msgspec into typed records that are
checked as they are decoded (a wrong type or shape is an error, not an object), then
turned into the content records by hand. msgspec because it is the fastest of the
well-kept libraries for this (C, no dependencies, typed decoding; saving and restoring
10,000 posts stays as fast as pickle was, see docs/limits.md), and MessagePack because
the records hold compressed bytes that JSON would have to encode.

Dates keep their time zone exactly (a zone by its IANA name, or a fixed offset), so a
restored post is the very record that was saved: its digest, and so every document
built from it, is unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from feeds.content.files import Stamp
from feeds.content.index import Known
from feeds.content.post import Loaded
from feeds.models import Author, Enclosure, Post, Problem
from feeds.podcast import Episode, Transcript

#: The first line of every shard file; another version (or a pickle) is not read.
HEADER = b"feeds content index 3\n"

#: A date as (wall-clock time without zone, fold, IANA zone name or offset east of UTC in seconds).
_Time = tuple[str, int, str | int]


class _Episode(msgspec.Struct, array_like=True, frozen=True):
    duration: int | None
    season: int | None
    number: int | None
    episode_type: str | None
    explicit: bool | None
    #: (url, type, language, rel) each.
    transcripts: tuple[tuple[str, str, str | None, str | None], ...]
    chapters: str | None


class _Post(msgspec.Struct, array_like=True, frozen=True):
    source: str
    id: str
    slug: str
    title: str
    url: str
    link: str
    published: _Time
    updated: _Time
    body_digest: str
    summary: str | None
    tags: tuple[str, ...]
    authors: tuple[tuple[str, str | None, str | None], ...]
    image: str | None
    enclosure: tuple[str, str, int] | None
    draft: bool
    reading_time: int | None
    feed: bool
    language: str | None
    section: str | None
    episode: _Episode | None


class _Entry(msgspec.Struct, array_like=True, frozen=True):
    stamp: tuple[int, int, int, tuple[_Time, _Time] | None]
    last_good: _Post | None
    #: Whether the file publishes ``last_good`` now (else it is broken, or never was good).
    live: bool
    problems: tuple[tuple[str, int, str, Literal["error", "warning"]], ...]
    source_z: bytes
    body_at: int
    history: tuple[_Time, _Time] | None
    broken_since: _Time | None


class Shard(msgspec.Struct, array_like=True, frozen=True):
    """One shard file's data: the settings and code it was saved by, and its entries by relative path."""

    settings: str
    code: str
    shard: int
    entries: dict[str, _Entry]


class _Source(msgspec.Struct, array_like=True, frozen=True):
    """An entry as :func:`sources` reads it: its stamp and source record, the rest left undecoded."""

    stamp: msgspec.Raw
    last_good: msgspec.Raw
    live: msgspec.Raw
    problems: msgspec.Raw
    source_z: msgspec.Raw
    body_at: int
    history: msgspec.Raw
    broken_since: msgspec.Raw


class _Sources(msgspec.Struct, array_like=True, frozen=True):
    settings: str
    code: str
    shard: int
    entries: dict[str, _Source]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Shard)
_sources = msgspec.msgpack.Decoder(_Sources)
_bytes = msgspec.msgpack.Decoder(bytes)


def dumps(settings: str, code: str, shard: int, entries: dict[str, Known]) -> bytes:
    """The bytes of one shard file."""
    data = Shard(settings, code, shard, {rel: _entry(known) for rel, known in entries.items()})
    return HEADER + _encoder.encode(data)


def loads(data: bytes) -> Shard:
    """Read a shard file's bytes; raise ValueError when they are not one (another version, a pickle, damage)."""
    if not data.startswith(HEADER):
        raise ValueError(f"not a {HEADER.decode().strip()!r} file")
    try:
        return _decoder.decode(memoryview(data)[len(HEADER) :])
    except msgspec.MsgspecError as e:
        raise ValueError(str(e)[:200]) from None


def entries(shard: Shard, sources: bool = True) -> dict[str, Known]:
    """The content index entries a shard holds; without ``sources``, only broken posts keep their source record."""
    return {rel: _known(entry, sources or not entry.live) for rel, entry in shard.entries.items()}


def sources(data: bytes, files: Collection[str]) -> dict[str, tuple[bytes, bytes, int]]:
    """From a shard file's bytes, each of ``files``' saved stamp (as :func:`stamp_key`), source record and body offset.

    Only those entries' sources are decoded (the rest of the shard is skipped over); nothing for a file that is not a
    shard (another version, damage).
    """
    if not data.startswith(HEADER):
        return {}
    try:
        shard = _sources.decode(memoryview(data)[len(HEADER) :])
        return {
            rel: (bytes(entry.stamp), _bytes.decode(entry.source_z), entry.body_at)
            for rel in files
            if (entry := shard.entries.get(rel)) is not None
        }
    except msgspec.MsgspecError:
        return {}


def stamp_key(stamp: Stamp) -> bytes:
    """A stamp as a shard holds it (MessagePack), to compare with :func:`sources`' without decoding that."""
    size, mtime, inode, dated = stamp
    return _encoder.encode((size, mtime, inode, _pair(dated)))


# -- records ↔ wire ------------------------------------------------------------------------------


def _entry(known: Known) -> _Entry:
    size, mtime, inode, dated = known.stamp
    return _Entry(
        (size, mtime, inode, _pair(dated)),
        _post(known.last_good) if known.last_good is not None else None,
        known.loaded.post is not None,
        tuple((p.path, p.line, p.message, p.severity) for p in known.loaded.problems),
        known.source_z,
        known.body_at,
        _pair(known.history),
        _time(known.broken_since) if known.broken_since is not None else None,
    )


def _known(entry: _Entry, source: bool = True) -> Known:
    size, mtime, inode, dated = entry.stamp
    last_good = _post_of(entry.last_good) if entry.last_good is not None else None
    problems = tuple(Problem(*problem) for problem in entry.problems) if entry.problems else ()
    return Known(
        (size, mtime, inode, _pair_of(dated)),
        Loaded(last_good if entry.live else None, "", problems),
        last_good,
        entry.source_z if source else b"",
        entry.body_at,
        _pair_of(entry.history),
        _datetime(entry.broken_since) if entry.broken_since is not None else None,
    )


def _post(post: Post) -> _Post:
    return _Post(
        post.source,
        post.id,
        post.slug,
        post.title,
        post.url,
        post.link,
        _time(post.published),
        _time(post.updated),
        post.body_digest,
        post.summary,
        post.tags,
        tuple((a.name, a.email, a.url) for a in post.authors),
        post.image,
        (post.enclosure.url, post.enclosure.type, post.enclosure.length) if post.enclosure is not None else None,
        post.draft,
        post.reading_time,
        post.feed,
        post.language,
        post.section,
        _episode(post.episode) if post.episode is not None else None,
    )


def _post_of(wire: _Post) -> Post:
    # Positional, in Post's field order (the test of this module checks every field round-trips).
    return Post(
        wire.source,
        wire.id,
        wire.slug,
        wire.title,
        wire.url,
        wire.link,
        _datetime(wire.published),
        _datetime(wire.updated),
        wire.body_digest,
        wire.summary,
        wire.tags,
        tuple(Author(*author) for author in wire.authors) if wire.authors else (),
        wire.image,
        Enclosure(*wire.enclosure) if wire.enclosure is not None else None,
        wire.draft,
        wire.reading_time,
        wire.feed,
        wire.language,
        wire.section,
        _episode_of(wire.episode) if wire.episode is not None else None,
    )


def _episode(episode: Episode) -> _Episode:
    return _Episode(
        episode.duration,
        episode.season,
        episode.number,
        episode.episode_type,
        episode.explicit,
        tuple((t.url, t.type, t.language, t.rel) for t in episode.transcripts),
        episode.chapters,
    )


def _episode_of(wire: _Episode) -> Episode:
    # Positional, in Episode's field order, like _post_of.
    transcripts = tuple(Transcript(*transcript) for transcript in wire.transcripts)
    return Episode(wire.duration, wire.season, wire.number, wire.episode_type, wire.explicit, transcripts, wire.chapters)


def _time(moment: datetime) -> _Time:
    zone = moment.tzinfo
    if isinstance(zone, ZoneInfo):
        return (moment.replace(tzinfo=None).isoformat(), moment.fold, zone.key)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a saved date must be time-zone aware")
    return (moment.replace(tzinfo=None).isoformat(), moment.fold, int(offset.total_seconds()))


def _datetime(wire: _Time) -> datetime:
    wall, fold, zone = wire
    return datetime.fromisoformat(wall).replace(tzinfo=_zone(zone), fold=fold)


@functools.lru_cache(maxsize=64)
def _zone(zone: str | int) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else timezone(timedelta(seconds=zone))


def _pair(dates: tuple[datetime, datetime] | None) -> tuple[_Time, _Time] | None:
    return None if dates is None else (_time(dates[0]), _time(dates[1]))


def _pair_of(wire: tuple[_Time, _Time] | None) -> tuple[datetime, datetime] | None:
    return None if wire is None else (_datetime(wire[0]), _datetime(wire[1]))
