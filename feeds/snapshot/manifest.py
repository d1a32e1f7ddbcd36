"""The manifest: what a published snapshot holds, and how each document's validators are chosen.

A snapshot is a manifest plus the bodies it names in the object store. The
manifest lists every document by URL path with its media type, strong ETag
(the SHA-256 of its bytes, which also names its object), Last-Modified, sizes
and the digest of what it was rendered from; documents not rendered yet
(older pages right after a cold start) are listed as pending. Everything a
worker needs to answer a request is here; the bytes stay on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feeds.limits import MAX_PROBLEM_MESSAGE, MAX_PROBLEMS_LISTED, MAX_TITLE_SHOWN, cut
from feeds.models import Problem, Tag
from feeds.snapshot.errors import ManifestError

#: Bumped when the shape changes; a reader refuses other formats (and the builder rebuilds).
FORMAT = 3
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A manifest is written as the change against the one before it (a delta) until this many deltas follow a whole one;
#: a worker that serves the one before reads only the change, one that starts reads the whole one and the deltas.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Item:
    """One document of a snapshot, ready to serve."""

    #: URL path, Unicode: ``/tags/café/archive/2/feed.xml``.
    path: str
    media_type: str
    #: Strong validator: ``"<first 32 hex digits of the SHA-256 of the bytes>"``; also the object's name.
    etag: str
    #: Last-Modified, whole seconds since the epoch.
    last_modified: int
    size: int
    gzip_size: int
    #: Digest of everything the bytes were rendered from (equal digest: equal bytes).
    digest: str

    @property
    def gzip_etag(self) -> str:
        """The validator of the gzip representation, distinct as RFC 9110 §8.8.3 asks."""
        return self.etag[:-1] + '-gz"'

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.last_modified, UTC)


@dataclass(frozen=True, slots=True)
class Pending:
    """A document listed but not rendered yet; rendered in the background or when first asked for."""

    path: str
    media_type: str
    digest: str
    #: The ETag and Last-Modified this path had before, so its new Last-Modified never goes backwards.
    previous_etag: str | None = None
    previous_modified: int = 0


@dataclass(frozen=True, slots=True)
class MediaItem:
    """A file of the media folder as the snapshot serves it: from the folder, not the object store."""

    #: URL path, Unicode: ``/media/episode-1.mp3``.
    path: str
    media_type: str
    #: Strong validator: the quoted first 32 hex digits of the SHA-256 of the bytes.
    etag: str
    #: Last-Modified, whole seconds since the epoch (chosen like a document's, see :func:`last_modified`).
    last_modified: int
    size: int
    #: The file's modification time and inode when it was hashed: a worker serves these validators only while they hold.
    mtime_ns: int
    inode: int

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.last_modified, UTC)


@dataclass(frozen=True)
class KeptPost:
    """A post served from its last good version (for /healthz and ``feeds check``)."""

    path: str
    #: Its title, cut to MAX_TITLE_SHOWN characters.
    title: str
    reason: str
    since: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", cut(self.title, MAX_TITLE_SHOWN))
        object.__setattr__(self, "reason", cut(self.reason, MAX_PROBLEM_MESSAGE))


@dataclass(frozen=True)
class Changes:
    """What a manifest changed against the one before it, by path (written as a delta instead of whole)."""

    #: Items added or replaced, and items gone.
    items: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    #: Pending documents added or replaced, and pending ones gone (rendered or dropped).
    pending: frozenset[str] = frozenset()
    unpending: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Manifest:
    """A published snapshot: every document by path, and what /healthz reports about it."""

    #: Hash of everything the snapshot is made of: equal content gives an equal version on every host.
    version: str
    #: Publication number on this host; grows with every publish.
    seq: int
    #: Wall-clock time of the build; for /healthz only, never inside a body.
    built_at: datetime
    items: Mapping[str, Item]
    pending: Mapping[str, Pending] = field(default_factory=dict)
    post_count: int = 0
    tags: tuple[Tag, ...] = ()
    #: The content's problems, at most MAX_PROBLEMS_LISTED (errors first); how many errors and warnings are left out.
    problems: tuple[Problem, ...] = ()
    errors_omitted: int = 0
    warnings_omitted: int = 0
    #: Posts served from their last good version, at most MAX_PROBLEMS_LISTED; how many more there are.
    kept: tuple[KeptPost, ...] = ()
    kept_omitted: int = 0
    #: When a future-dated post becomes visible: a rebuild is due then.
    next_change: datetime | None = None
    #: The content's own clock at the build (newest file or folder change, or the git commit time).
    content_time: datetime = EPOCH
    #: The git commit built, when the content comes from git.
    commit: str | None = None
    #: Each scope's post count and items per feed, by prefix: where an old ``/page/N/`` URL's posts are now.
    scopes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: The media folder's files by URL path, and the folder (on this host) they are read from.
    media: Mapping[str, MediaItem] = field(default_factory=dict)
    media_root: str | None = None
    #: Not part of what it says: the file names of the manifests it was written as a change against, the nearest first
    #: (they are kept while it is), and what it changed against the one before (None: unknown, written whole).
    parents: tuple[str, ...] = field(default=(), compare=False)
    changes: Changes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # However many problems the content has, /healthz, the log and the manifest file stay small.
        if len(self.problems) > MAX_PROBLEMS_LISTED:
            listed = _listed(self.problems, MAX_PROBLEMS_LISTED)
            errors = sum(p.severity == "error" for p in self.problems) - sum(p.severity == "error" for p in listed)
            object.__setattr__(self, "errors_omitted", self.errors_omitted + errors)
            object.__setattr__(self, "warnings_omitted", self.warnings_omitted + len(self.problems) - len(listed) - errors)
            object.__setattr__(self, "problems", listed)
        if len(self.kept) > MAX_PROBLEMS_LISTED:
            object.__setattr__(self, "kept_omitted", self.kept_omitted + len(self.kept) - MAX_PROBLEMS_LISTED)
            object.__setattr__(self, "kept", self.kept[:MAX_PROBLEMS_LISTED])

    @property
    def complete(self) -> bool:
        """Whether every document is rendered (no pending ones)."""
        return not self.pending

    @property
    def problems_omitted(self) -> int:
        return self.errors_omitted + self.warnings_omitted

    def count(self, severity: str) -> int:
        """How many problems of ``severity`` the content has, listed or not."""
        omitted = self.errors_omitted if severity == "error" else self.warnings_omitted
        return sum(p.severity == severity for p in self.problems) + omitted

    def name(self) -> str:
        """The manifest's file name in the store."""
        return f"{self.seq:08d}-{self.version}.json"


def _listed(problems: tuple[Problem, ...], limit: int) -> tuple[Problem, ...]:
    """The first ``limit`` problems, errors before warnings are left out, in their order."""
    errors = [i for i, p in enumerate(problems) if p.severity == "error"][:limit]
    warnings = [i for i, p in enumerate(problems) if p.severity != "error"][: limit - len(errors)]
    return tuple(problems[i] for i in sorted(errors + warnings))


def last_modified(previous: tuple[str | None, int], etag: str, content_time: datetime, newest: datetime | None, now: datetime) -> int:
    """Choose a document's Last-Modified (whole seconds) so that HTTP validators never lie.

    Unchanged bytes keep their date. Changed bytes get the content's own clock
    (the newest change among the content's files and folders, or the git commit
    time), or the newest post change they show if later, and always at least one
    second more than before, so If-Modified-Since never answers 304 for new
    bytes and the date never goes backwards. Nothing here depends on when the
    build ran (``now`` only caps a clock that is ahead), so every worker and
    every host that builds the same content from the same snapshot gives the same dates.
    """
    previous_etag, previous_modified = previous
    if previous_etag == etag and previous_modified:
        return previous_modified
    candidate = int(content_time.timestamp())
    if newest is not None:
        candidate = max(candidate, int(newest.timestamp()))
    candidate = min(candidate, int(now.timestamp()))  # RFC 9110 §8.8.2.1: never later than the response
    return max(candidate, previous_modified + 1) if previous_modified else candidate


# -- JSON ------------------------------------------------------------------------------


def _header(manifest: Manifest, types: dict[str, int]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": manifest.version,
        "seq": manifest.seq,
        "built_at": manifest.built_at.isoformat(),
        "content_time": manifest.content_time.isoformat(),
        "commit": manifest.commit,
        "post_count": manifest.post_count,
        "next_change": manifest.next_change.isoformat() if manifest.next_change else None,
        "tags": [[t.slug, t.name] for t in manifest.tags],
        "scopes": [[prefix, count, size] for prefix, (count, size) in manifest.scopes.items()],
        "problems": [[p.path, p.line, p.message, p.severity] for p in manifest.problems],
        "kept": [[k.path, k.title, k.reason, k.since.isoformat()] for k in manifest.kept],
        "omitted": [manifest.errors_omitted, manifest.warnings_omitted, manifest.kept_omitted],
        "media_types": list(types),
    }
    # Optional in format 3: absent for a site without a media folder (its manifest is byte for byte what it was), and
    # ignored by a reader that predates them, so a worker of the previous release keeps serving documents during a deploy.
    # The media folder is a few files: a delta carries its rows whole too.
    if manifest.media_root is not None:
        data["media_root"] = manifest.media_root
        data["media"] = [
            [m.path, types[m.media_type], m.etag, m.last_modified, m.size, m.mtime_ns, m.inode] for m in manifest.media.values()
        ]
    return data


def _types(items: list[Item], pending: list[Pending], media: Iterable[MediaItem]) -> dict[str, int]:
    types: dict[str, int] = {}
    for media_type in [i.media_type for i in items] + [p.media_type for p in pending] + [m.media_type for m in media]:
        types.setdefault(media_type, len(types))
    return types


def _rows(items: list[Item], pending: list[Pending], types: dict[str, int]) -> tuple[list[list[Any]], list[list[Any]]]:
    return (
        [[i.path, types[i.media_type], i.etag, i.last_modified, i.size, i.gzip_size, i.digest] for i in items],
        [[p.path, types[p.media_type], p.digest, p.previous_etag, p.previous_modified] for p in pending],
    )


def _encode(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def dumps(manifest: Manifest) -> bytes:
    """Serialize ``manifest`` whole (compact: one array per document, media types in a table)."""
    items, pending = list(manifest.items.values()), list(manifest.pending.values())
    types = _types(items, pending, manifest.media.values())
    data = _header(manifest, types)
    data["items"], data["pending"] = _rows(items, pending, types)
    return _encode(data)


def dumps_delta(manifest: Manifest) -> bytes:
    """Serialize ``manifest`` as its :attr:`~Manifest.changes` against its first parent (the manifest before it)."""
    changes = manifest.changes
    if changes is None or not manifest.parents:
        raise ValueError("a delta needs the changes against a parent")
    items = [manifest.items[path] for path in sorted(changes.items)]
    pending = [manifest.pending[path] for path in sorted(changes.pending)]
    types = _types(items, pending, manifest.media.values())
    data = _header(manifest, types)
    data["parent"] = manifest.parents[0]
    data["items"], data["pending"] = _rows(items, pending, types)
    data["removed"], data["unpending"] = sorted(changes.removed), sorted(changes.unpending)
    return _encode(data)


def loads(raw: bytes, where: str = "manifest", parent: Callable[[str], Manifest] | None = None) -> Manifest:
    """Read a manifest written by :func:`dumps` or :func:`dumps_delta`; ManifestError names ``where`` when it cannot.

    A delta is applied to its parent, which ``parent(name)`` gives (the manifest a worker serves,
    or one read from the store).
    """
    try:
        data: dict[str, Any] = json.loads(raw)
        if data.get("format") != FORMAT:
            raise ManifestError(f"{where}: manifest format {data.get('format')!r}, expected {FORMAT}")
        types = data["media_types"]
        items = {row[0]: Item(row[0], types[row[1]], row[2], row[3], row[4], row[5], row[6]) for row in data["items"]}
        pending = {row[0]: Pending(row[0], types[row[1]], row[2], row[3], row[4]) for row in data["pending"]}
        parents: tuple[str, ...] = ()
        changes = None
        if "parent" in data:
            if parent is None:
                raise ManifestError(f"{where}: a change against {data['parent']!r}, read without it")
            base = parent(str(data["parent"]))
            if len(base.parents) >= 2 * MAX_DEPTH:
                raise ManifestError(f"{where}: more than {2 * MAX_DEPTH} changes since a whole manifest")
            changes = Changes(frozenset(items), frozenset(data["removed"]), frozenset(pending), frozenset(data["unpending"]))
            items, pending = _applied(base.items, items, data["removed"]), _applied(base.pending, pending, data["unpending"])
            parents = (str(data["parent"]), *base.parents)
        omitted = data.get("omitted", [0, 0, 0])  # (written since issue 15; absent: none)
        return Manifest(
            version=data["version"],
            seq=data["seq"],
            built_at=datetime.fromisoformat(data["built_at"]),
            items=items,
            pending=pending,
            post_count=data["post_count"],
            tags=tuple(Tag(slug, name) for slug, name in data["tags"]),
            problems=tuple(Problem(path, line, message, severity) for path, line, message, severity in data["problems"]),
            kept=tuple(KeptPost(path, title, reason, datetime.fromisoformat(since)) for path, title, reason, since in data["kept"]),
            errors_omitted=omitted[0],
            warnings_omitted=omitted[1],
            kept_omitted=omitted[2],
            next_change=datetime.fromisoformat(data["next_change"]) if data["next_change"] else None,
            content_time=datetime.fromisoformat(data["content_time"]),
            commit=data["commit"],
            scopes={prefix: (count, size) for prefix, count, size in data["scopes"]},
            media={row[0]: MediaItem(row[0], types[row[1]], *row[2:7]) for row in data.get("media", ())},
            media_root=data.get("media_root"),
            parents=parents,
            changes=changes,
        )
    except ManifestError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise ManifestError(f"{where}: not a readable manifest: {e}") from e


def _applied(base: Mapping[str, Any], upserted: dict[str, Any], removed: list[str]) -> dict[str, Any]:
    """``base`` with ``upserted`` put in and ``removed`` taken out (a copy: ``base`` is served meanwhile)."""
    made = dict(base)
    for path in removed:
        made.pop(path, None)
    made.update(upserted)
    return made
