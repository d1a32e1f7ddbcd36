"""What a publish does, decided without touching the bucket: the objects to upload, in waves, and to delete."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Protocol
from urllib.parse import quote, urlsplit

from feeds.config import Config
from feeds.errors import ConfigError
from feeds.service.errors import PublishError

#: Name of the manifest under the prefix; a leading dot keeps it out of the URL space.
MANIFEST_NAME = ".feeds-manifest.json"
#: Bumped when the manifest's shape changes; a publish refuses a bucket in another format.
MANIFEST_FORMAT = 1
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
INDEX_TYPES = frozenset({"text/html", "text/x-opml"})
#: The upload waves, in order; a wave starts when the one before it is readable.
WAVES = ("new archives and linked files", "changed archives", "current feeds", "HTML pages, OPML and redirects")
NEW_OLDER_PAGES, CHANGED_OLDER_PAGES, PAGE_ONE_FEEDS, INDEXES = range(len(WAVES))
_OLDER_PAGE = re.compile(r"/archive/([0-9]+)/[^/]+\Z")
#: The index, the lists and each scope's page; any other HTML page is a post's page, which feeds link to.
_SCOPE_PAGE = re.compile(r"\A/(?:(?:tags|authors|sections|languages)/(?:[^/]+/)?)?\Z")


class Item(Protocol):
    """One document of a snapshot."""

    @property
    def path(self) -> str: ...  # URL path, not percent-encoded: "/tags/café/feed.xml", "/tags/"
    @property
    def media_type(self) -> str: ...
    @property
    def etag(self) -> str: ...
    @property
    def last_modified(self) -> datetime: ...
    @property
    def size(self) -> int: ...
    @property
    def gzip_size(self) -> int: ...


class SnapshotView(Protocol):
    """A snapshot as publishing needs it; ``read`` and ``open_media`` are called from several threads.

    ``items`` are the documents (read whole, each with a gzip sibling); ``media`` the media folder's
    files (an episode is tens of megabytes: opened and streamed, never read whole, no gzip sibling).
    """

    @property
    def version(self) -> str: ...
    @property
    def items(self) -> Mapping[str, Item]: ...
    @property
    def media(self) -> Mapping[str, Item]: ...
    def read(self, item: Item, gzip: bool = False) -> bytes: ...
    def open_media(self, item: Item) -> AbstractContextManager[BinaryIO]: ...


@dataclass(frozen=True)
class Target:
    """Where a snapshot goes: ``s3://bucket/prefix`` and how to reach it."""

    bucket: str
    #: Key prefix: empty, or ending with "/".
    prefix: str = ""
    #: S3 API endpoint; None lets boto3 resolve it (AWS_ENDPOINT_URL, the AWS config, AWS itself).
    endpoint: str | None = None
    region: str | None = None

    @classmethod
    def from_url(cls, url: str, *, endpoint: str | None = None, region: str | None = None) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
        prefix = "/".join(segment for segment in parts.path.split("/") if segment)
        return cls(parts.netloc, prefix + "/" if prefix else "", endpoint, region)

    @classmethod
    def from_config(cls, config: Config) -> Target:
        if not config.publish_url:
            raise ConfigError("publish_url", "not set: where should the snapshot go (s3://bucket/prefix)?")
        return cls.from_url(config.publish_url, endpoint=config.publish_endpoint, region=config.publish_region)

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_NAME

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def object_name(path: str) -> str:
    """Return the object of URL ``path`` under the prefix: ``/tags/go/`` → ``tags/go/index.html``."""
    if not path.startswith("/") or any(segment in (".", "..") for segment in path.split("/")) or "//" in path:
        raise ValueError(f"not a clean URL path: {path!r}")
    return path[1:] + ("index.html" if path.endswith("/") else "")


def public_url(site_url: str, path: str) -> str:
    """Return the absolute, percent-encoded URL of ``path``, as the feeds link to it."""
    return site_url.rstrip("/") + quote(path)


@dataclass(frozen=True)
class Retry:
    """Bounded exponential backoff for one call."""

    #: Tries, the first included.
    attempts: int = 5
    #: Wait before the second try; it doubles at each further try, up to ``max_delay``.
    delay: float = 0.5
    max_delay: float = 8.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (from 1)."""
        return min(self.delay * 2.0 ** (attempt - 1), self.max_delay)


#: The retries of every bucket call and purge unless told otherwise.
DEFAULT_RETRY = Retry()


@dataclass(frozen=True)
class Entry:
    """What the manifest records of one document's objects: the plain one and its ``.gz`` sibling."""

    path: str
    media_type: str
    etag: str
    #: Our Last-Modified, ISO 8601 UTC.
    last_modified: str
    size: int
    cache_control: str
    #: The gzip sibling's ETag (the app's: the plain one ending ``-gz"``) and size; None without a sibling.
    gzip_etag: str | None = None
    gzip_size: int | None = None
    #: For a moved path (the ``redirects`` setting): where the bucket's website endpoint redirects it (an empty
    #: object with ``x-amz-website-redirect-location``); None for a document.
    redirect: str | None = None

    def objects(self, name: str) -> tuple[str, ...]:
        return (name, name + ".gz") if self.gzip_etag else (name,)


@dataclass(frozen=True)
class Manifest:
    """``.feeds-manifest.json``: every document in the bucket, by object name under the prefix."""

    version: str | None
    entries: Mapping[str, Entry]
    #: Objects a publish set out to delete; the next publish finishes the job if it was cut short.
    deleting: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        data = {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "objects": {name: {k: v for k, v in vars(e).items() if v is not None} for name, e in sorted(self.entries.items())},
            "deleting": list(self.deleting),
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest; ValueError if it is not one this code wrote."""
        try:
            raw = json.loads(data)
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"manifest format {raw.get('format')!r}, expected {MANIFEST_FORMAT}")
            entries = {str(name): Entry(**fields) for name, fields in raw["objects"].items()}
            return cls(raw.get("version"), entries, tuple(str(name) for name in raw.get("deleting", ())))
        except (AttributeError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ValueError(f"not a feeds manifest: {e!r}") from e


EMPTY = Manifest(None, {})
EPOCH_ISO = datetime(1970, 1, 1, tzinfo=UTC).isoformat()


@dataclass(frozen=True)
class Upload:
    """One document to write: its plain object and, with ``entry.gzip_etag``, its ``.gz`` sibling."""

    name: str
    #: The document to write; None for a redirect object (``entry.redirect``), which has no body.
    item: Item | None
    entry: Entry
    wave: int
    #: A media file: streamed from its file (``SnapshotView.open_media``), never read whole.
    streamed: bool = False

    @property
    def variants(self) -> tuple[bool, ...]:
        """The objects to write, as ``gzip`` flags of ``SnapshotView.read``."""
        return (False, True) if self.entry.gzip_etag else (False,)


@dataclass(frozen=True)
class Plan:
    """What a publish does, worked out from the snapshot and the bucket's manifest alone."""

    #: Uploads by wave (see WAVES); a wave starts once the previous one is written.
    waves: tuple[tuple[Upload, ...], ...]
    #: The manifest that describes the bucket after the uploads.
    manifest: Manifest
    #: Whether it differs from the bucket's (else it is not written).
    write_manifest: bool
    #: Object names to delete, after the manifest.
    delete: tuple[str, ...]
    #: Objects left alone: the manifest shows the same bytes and headers.
    skipped: int
    #: Absolute URLs of the documents written or deleted, for a CDN purge.
    changed_urls: tuple[str, ...]
    #: Page-1 feed URLs whose bytes are new: the WebSub topics.
    topics: tuple[str, ...]


def plan(
    view: SnapshotView,
    remote: Manifest,
    *,
    site_url: str,
    cache_control: Callable[[Item], str],
    gzip_siblings: bool = True,
    force: bool = False,
    redirects: Mapping[str, str] | None = None,
) -> Plan:
    """Return what to upload, in which wave, and what to delete, to make the bucket hold ``view``.

    ``force`` uploads every document, whatever the manifest says (objects changed behind our back).
    ``redirects`` (moved path → site path or URL) become empty objects that the bucket's website
    endpoint answers with a 301 (S3 website redirects); a path that is a document stays the document.
    """
    if not view.items:
        raise PublishError(MANIFEST_NAME, f"snapshot {view.version} has no documents; refusing to empty the bucket")
    entries: dict[str, Entry] = {}
    waves: list[list[Upload]] = [[] for _ in WAVES]
    changed: set[str] = set()
    topics: list[str] = []
    skipped = 0
    files = [(item, False) for item in view.items.values()] + [(item, True) for item in view.media.values()]
    for item, streamed in sorted(files, key=lambda pair: pair[0].path):
        try:
            name = object_name(item.path)
        except ValueError as e:
            raise PublishError(item.path, str(e)) from e
        if name in entries or name == MANIFEST_NAME:
            raise PublishError(name, f"two documents map to this object ({item.path!r})")
        entry = Entry(
            path=item.path,
            media_type=item.media_type,
            etag=item.etag,
            last_modified=item.last_modified.astimezone(UTC).isoformat(),
            size=item.size,
            cache_control=cache_control(item),
            gzip_etag=item.etag[:-1] + '-gz"' if gzip_siblings and not streamed else None,
            gzip_size=item.gzip_size if gzip_siblings and not streamed else None,
        )
        entries[name] = entry
        before = remote.entries.get(name)
        if before == entry and not force:
            skipped += len(entry.objects(name))
            continue
        wave = _wave(item, new=before is None)
        waves[wave].append(Upload(name, item, entry, wave, streamed))
        changed.add(public_url(site_url, item.path))
        if wave == PAGE_ONE_FEEDS and (before is None or before.etag != entry.etag):
            topics.append(public_url(site_url, item.path))
    for source, target in sorted((redirects or {}).items()):
        try:
            name = object_name(source)
        except ValueError as e:
            raise PublishError(source, str(e)) from e
        if name in entries or name == MANIFEST_NAME:
            continue  # the document is served (the plan reports the redirect)
        entry = Entry(source, "text/plain; charset=utf-8", '"redirect"', EPOCH_ISO, 0, "public, max-age=86400", redirect=target)
        entries[name] = entry
        before = remote.entries.get(name)
        if before == entry and not force:
            skipped += 1
            continue
        waves[INDEXES].append(Upload(name, None, entry, INDEXES))  # last: it points at documents written before
        changed.add(public_url(site_url, source))
    keep = {obj for name, entry in entries.items() for obj in entry.objects(name)}
    before_objects = {obj for name, entry in remote.entries.items() for obj in entry.objects(name)} | set(remote.deleting)
    delete = tuple(sorted(before_objects - keep))
    changed.update(public_url(site_url, entry.path) for name, entry in remote.entries.items() if name not in entries)
    manifest = Manifest(view.version, entries, delete)
    return Plan(
        waves=tuple(tuple(wave) for wave in waves),
        manifest=manifest,
        write_manifest=manifest != remote,
        delete=delete,
        skipped=skipped,
        changed_urls=tuple(sorted(changed)),
        topics=tuple(topics),
    )


def steps(wave: tuple[Upload, ...]) -> list[list[Upload]]:
    """A wave in the order it is written: archives by number, oldest first (each new archive's ``prev-archive``
    is readable before it is), everything else in the first step."""
    by_number: dict[int, list[Upload]] = {}
    for upload in wave:
        older = _OLDER_PAGE.search(upload.entry.path)
        by_number.setdefault(int(older.group(1)) if older else 0, []).append(upload)
    return [by_number[number] for number in sorted(by_number)]


def _wave(item: Item, *, new: bool) -> int:
    # Readers enter through current feeds, HTML pages and OPML, so those go last and what they link
    # to goes first. Archives that are new go before changed ones: a changed archive may link to one
    # that did not exist before (next-archive to the archive a new post filled).
    kind = item.media_type.split(";")[0].strip().lower()
    older = _OLDER_PAGE.search(item.path)
    if older:
        return NEW_OLDER_PAGES if new else CHANGED_OLDER_PAGES
    if kind in FEED_TYPES:
        return PAGE_ONE_FEEDS
    if kind == "text/html" and not _SCOPE_PAGE.match(item.path):
        return NEW_OLDER_PAGES if new else CHANGED_OLDER_PAGES  # a post page: the items of the current feeds link to it
    if kind in INDEX_TYPES:
        return INDEXES
    return NEW_OLDER_PAGES  # anything else (a media file, an image) is linked from the documents
