"""Copy a snapshot to an S3-compatible bucket: only what changed, in an order that leaves no dangling link.

The bucket holds one object per document (``<prefix>`` + URL path, ``index.html``
for paths ending in ``/``), a ``.gz`` sibling with ``Content-Encoding: gzip``, and
``<prefix>.feeds-manifest.json``, which says what every object holds. A publish
compares the snapshot with that manifest, uploads new and changed documents in
waves (older pages, page-1 feeds, HTML pages and OPML), writes the manifest,
then deletes what is gone. If it stops anywhere, the manifest in the bucket
still describes objects that are there and readable.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import json
import logging
import re
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .. import log
from ..config import Config
from ..errors import ConfigError, FeedsError

#: Name of the manifest under the prefix; a leading dot keeps it out of the URL space.
MANIFEST_NAME = ".feeds-manifest.json"
#: Bumped when the manifest's shape changes; a publish refuses a bucket in another format.
MANIFEST_FORMAT = 1
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
INDEX_TYPES = frozenset({"text/html", "text/x-opml"})
#: The upload waves, in order; a wave starts when the one before it is readable.
WAVES = ("new older pages and linked files", "changed older pages", "page-1 feeds", "HTML pages and OPML")
NEW_OLDER_PAGES, CHANGED_OLDER_PAGES, PAGE_ONE_FEEDS, INDEXES = range(len(WAVES))
_OLDER_PAGE = re.compile(r"/page/([0-9]+)/[^/]+\Z")
T = TypeVar("T")


class PublishError(FeedsError):
    """A publish stopped; names the object (or document) at fault. The bucket's manifest still holds."""

    def __init__(self, key: str, message: str, bucket: str | None = None) -> None:
        super().__init__(f"{f's3://{bucket}/' if bucket else ''}{key}: {message}")
        self.key, self.message, self.bucket = key, message, bucket


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
    """A snapshot as publishing needs it; ``read`` is called from several threads."""

    @property
    def version(self) -> str: ...
    @property
    def items(self) -> Mapping[str, Item]: ...
    def read(self, item: Item, gzip: bool = False) -> bytes: ...


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


@dataclass(frozen=True)
class Upload:
    """One document to write: its plain object and, with ``entry.gzip_etag``, its ``.gz`` sibling."""

    name: str
    item: Item
    entry: Entry
    wave: int

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
) -> Plan:
    """Return what to upload, in which wave, and what to delete, to make the bucket hold ``view``.

    ``force`` uploads every document, whatever the manifest says (objects changed behind our back).
    """
    if not view.items:
        raise PublishError(MANIFEST_NAME, f"snapshot {view.version} has no documents; refusing to empty the bucket")
    entries: dict[str, Entry] = {}
    waves: list[list[Upload]] = [[] for _ in WAVES]
    changed: set[str] = set()
    topics: list[str] = []
    skipped = 0
    for item in sorted(view.items.values(), key=lambda item: item.path):
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
            gzip_etag=item.etag[:-1] + '-gz"' if gzip_siblings else None,
            gzip_size=item.gzip_size if gzip_siblings else None,
        )
        entries[name] = entry
        before = remote.entries.get(name)
        if before == entry and not force:
            skipped += len(entry.objects(name))
            continue
        wave = _wave(item, new=before is None)
        waves[wave].append(Upload(name, item, entry, wave))
        changed.add(public_url(site_url, item.path))
        if wave == PAGE_ONE_FEEDS and (before is None or before.etag != entry.etag):
            topics.append(public_url(site_url, item.path))
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


def _wave(item: Item, *, new: bool) -> int:
    # Readers enter through page-1 feeds, HTML pages and OPML, so those go last and what they link
    # to goes first. Older pages that are new go before changed ones: a changed page may link to a
    # page that did not exist before (the new last page).
    kind = item.media_type.split(";")[0].strip().lower()
    older = _OLDER_PAGE.search(item.path)
    if older and int(older.group(1)) >= 2:
        return NEW_OLDER_PAGES if new else CHANGED_OLDER_PAGES
    if kind in FEED_TYPES:
        return PAGE_ONE_FEEDS
    if kind in INDEX_TYPES:
        return INDEXES
    return NEW_OLDER_PAGES  # anything else (an image, a stylesheet) is linked from the documents


@dataclass(frozen=True)
class PurgeResult:
    ok: bool
    #: URLs handed to the purge.
    urls: int
    #: What failed (an exit status, an HTTP status), None when ``ok``.
    error: str | None = None


@dataclass(frozen=True)
class PublishReport:
    """What a publish did."""

    target: str
    #: Snapshot version the bucket's manifest now names.
    version: str
    #: Objects written (a document's plain and gzip objects count as two) and their bytes; the manifest apart.
    uploaded: int
    uploaded_bytes: int
    skipped: int
    deleted: int
    #: Bytes of manifest written (0 when nothing changed; written twice when something was deleted).
    manifest_bytes: int
    changed_urls: tuple[str, ...]
    #: Page-1 feeds with new bytes: ping WebSub hubs for these now, they are readable.
    topics: tuple[str, ...]
    seconds: float
    #: The purge step; None when none is configured or nothing changed.
    purge: PurgeResult | None = None
    #: Deletions that failed; they stay in the manifest and the next publish retries them.
    pending_deletes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.uploaded or self.deleted or self.manifest_bytes)

    def fields(self) -> dict[str, Any]:
        """Plain values for a log event or the command line."""
        return {
            "target": self.target,
            "version": self.version,
            "uploaded": self.uploaded,
            "uploaded_bytes": self.uploaded_bytes,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "manifest_bytes": self.manifest_bytes,
            "changed_urls": len(self.changed_urls),
            "topics": len(self.topics),
            "purge": "none" if self.purge is None else "ok" if self.purge.ok else "failed",
            "pending_deletes": len(self.pending_deletes),
            "seconds": round(self.seconds, 3),
        }


def make_client(target: Target, workers: int = 8) -> Any:
    """Return a boto3 S3 client; credentials, and the endpoint and region unless set, come from the AWS environment."""
    import boto3  # imported on use: 0.15 s that serving does not need
    from botocore.config import Config as BotoConfig

    return boto3.session.Session().client(
        "s3",
        endpoint_url=target.endpoint,
        region_name=target.region,
        # publish() retries each call itself, with its own bounded backoff.
        config=BotoConfig(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 1}, max_pool_connections=workers),
    )


def publish(
    view: SnapshotView,
    target: Target,
    *,
    site_url: str,
    cache_control: Callable[[Item], str],
    client: Any = None,
    gzip_siblings: bool = True,
    force: bool = False,
    retry: Retry = Retry(),
    workers: int = 8,
    purge: Callable[[Sequence[str]], PurgeResult] | None = None,
) -> PublishReport:
    """Make the bucket at ``target`` hold ``view``, uploading only what its manifest does not show.

    Then ``purge`` gets the changed URLs; the report's ``topics`` are ready for WebSub pings.
    Raises PublishError (naming the object) when a call still fails after ``retry``; the
    bucket's manifest is then the previous one, and every object it lists is readable.
    """
    started = time.monotonic()
    bucket = _Bucket(client if client is not None else make_client(target, workers), target, retry)
    remote = bucket.read_manifest()
    todo = plan(view, remote, site_url=site_url, cache_control=cache_control, gzip_siblings=gzip_siblings, force=force)
    uploaded = uploaded_bytes = manifest_bytes = deleted = 0
    pending: tuple[str, ...] = ()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feeds-publish") as pool:
        for wave in todo.waves:
            tasks = [functools.partial(bucket.put_document, view, upload, gz) for upload in wave for gz in upload.variants]
            sizes = bucket.run(pool, tasks)
            uploaded, uploaded_bytes = uploaded + len(sizes), uploaded_bytes + sum(sizes)
        if todo.write_manifest:
            manifest_bytes += bucket.put_manifest(todo.manifest)
        if todo.delete:  # only now: until the manifest is written, the old one may list these objects
            try:
                bucket.run(pool, [functools.partial(bucket.delete, name) for name in todo.delete])
                deleted = len(todo.delete)
                manifest_bytes += bucket.put_manifest(replace(todo.manifest, deleting=()))
            except PublishError:
                pending = todo.delete  # the manifest lists them under "deleting": the next publish retries
    purged = purge(todo.changed_urls) if purge is not None and todo.changed_urls else None
    return PublishReport(
        target=str(target),
        version=view.version,
        uploaded=uploaded,
        uploaded_bytes=uploaded_bytes,
        skipped=todo.skipped,
        deleted=deleted,
        manifest_bytes=manifest_bytes,
        changed_urls=todo.changed_urls,
        topics=todo.topics,
        seconds=time.monotonic() - started,
        purge=purged,
        pending_deletes=pending,
    )


class _Bucket:
    """The S3 calls of a publish, each retried with backoff; ``run`` stops a wave at its first failure."""

    def __init__(self, client: Any, target: Target, retry: Retry) -> None:
        self.client, self.target, self.retry = client, target, retry
        self.abort = threading.Event()

    def error(self, name: str, message: str) -> PublishError:
        return PublishError(self.target.prefix + name, message, self.target.bucket)

    def call(self, name: str, action: str, fn: Callable[[], T]) -> T:
        if self.abort.is_set():
            raise self.error(name, f"{action} not tried: the publish is stopping")
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except Exception as e:
                if not _retryable(e) or attempt == self.retry.attempts or self.abort.is_set():
                    raise self.error(name, f"{action} failed (try {attempt}): {_describe(e)}") from e
            self.abort.wait(self.retry.wait(attempt))
        raise AssertionError("unreachable")

    def run(self, pool: ThreadPoolExecutor, tasks: Sequence[Callable[[], int]]) -> list[int]:
        futures: list[Future[int]] = [pool.submit(task) for task in tasks]
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in futures if future.done() and future.exception() is not None]
        if failed:
            self.abort.set()  # in-flight calls stop retrying; queued ones never start
            for future in futures:
                future.cancel()
            wait(futures)
            self.abort.clear()
            error = failed[0].exception()
            assert error is not None
            raise error
        return [future.result() for future in futures]

    def read_manifest(self) -> Manifest:
        name = MANIFEST_NAME

        def get() -> bytes | None:
            try:
                response = self.client.get_object(Bucket=self.target.bucket, Key=self.target.prefix + name)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            return bytes(response["Body"].read())

        data = self.call(name, "reading the manifest", get)
        if data is None:
            return EMPTY
        try:
            return Manifest.from_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        except (ValueError, OSError, EOFError) as e:
            raise self.error(name, f"{e}; delete it to publish everything again") from e

    def put_document(self, view: SnapshotView, upload: Upload, gz: bool) -> int:
        name = upload.name + (".gz" if gz else "")
        try:
            data = view.read(upload.item, gzip=gz)
        except (OSError, LookupError) as e:
            raise self.error(name, f"cannot read {upload.item.path!r} from the snapshot: {e}") from e
        entry = upload.entry
        extra = {"ContentEncoding": "gzip"} if gz else {}
        metadata = {
            "etag": (entry.gzip_etag or entry.etag) if gz else entry.etag,
            "last-modified": email.utils.format_datetime(datetime.fromisoformat(entry.last_modified), usegmt=True),
        }
        self.call(
            name,
            "upload",
            lambda: self.client.put_object(
                Bucket=self.target.bucket,
                Key=self.target.prefix + name,
                Body=data,
                ContentType=entry.media_type,
                CacheControl=entry.cache_control,
                Metadata=metadata,
                **extra,
            ),
        )
        return len(data)

    def put_manifest(self, manifest: Manifest) -> int:
        # Stored gzipped: about 300 bytes a document as JSON, a seventh of that compressed.
        data = gzip.compress(manifest.to_bytes(), mtime=0)
        self.call(
            MANIFEST_NAME,
            "writing the manifest",
            lambda: self.client.put_object(
                Bucket=self.target.bucket,
                Key=self.target.manifest_key,
                Body=data,
                ContentType="application/json; charset=utf-8",
                ContentEncoding="gzip",
                CacheControl="no-cache",
            ),
        )
        return len(data)

    def delete(self, name: str) -> int:
        # One DELETE per object: every S3-compatible store has it (not all have DeleteObjects).
        self.call(name, "delete", lambda: self.client.delete_object(Bucket=self.target.bucket, Key=self.target.prefix + name))
        return 0


def _retryable(error: Exception) -> bool:
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = error.response.get("Error", {}).get("Code", "")
        return status >= 500 or status in (408, 429) or code in ("SlowDown", "Throttling", "RequestTimeout", "InternalError")
    return False


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        err, meta = error.response.get("Error", {}), error.response.get("ResponseMetadata", {})
        return f"{err.get('Code', '?')} (HTTP {meta.get('HTTPStatusCode', '?')}): {err.get('Message', '')}".rstrip(": ")
    return str(error) or type(error).__name__


def purge(
    urls: Sequence[str], *, command: str | None = None, hook_url: str | None = None, timeout: float = 60.0, retry: Retry = Retry()
) -> PurgeResult:
    """Tell a CDN to drop ``urls``: run ``command`` (URLs on stdin, one a line) and/or POST ``{"urls": [...]}`` to ``hook_url``.

    Each is retried with backoff; a failure is reported in the result, never raised.
    """
    errors = []
    if command:
        errors.append(_retrying(retry, lambda: _run_purge_command(command, urls, timeout)))
    if hook_url:
        errors.append(_retrying(retry, lambda: _post_purge_hook(hook_url, urls, timeout)))
    failed = [error for error in errors if error]
    return PurgeResult(ok=not failed, urls=len(urls), error="; ".join(failed) or None)


def _retrying(retry: Retry, attempt: Callable[[], tuple[str | None, bool]]) -> str | None:
    """Run ``attempt`` (returning an error or None, and whether a retry may help) up to ``retry.attempts`` times."""
    error: str | None = None
    for number in range(1, retry.attempts + 1):
        error, again = attempt()
        if error is None or not again:
            return error
        if number < retry.attempts:
            time.sleep(retry.wait(number))
    return error


def _run_purge_command(command: str, urls: Sequence[str], timeout: float) -> tuple[str | None, bool]:
    argv = shlex.split(command)
    try:
        done = subprocess.run(argv, input="".join(url + "\n" for url in urls).encode(), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{argv[0]}: no exit after {timeout:g} s", True
    except OSError as e:
        return f"{argv[0]}: {e.strerror or e}", False
    if done.returncode != 0:
        return f"{argv[0]} exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-200:]}", True
    return None, False


def _post_purge_hook(url: str, urls: Sequence[str], timeout: float) -> tuple[str | None, bool]:
    body = json.dumps({"urls": list(urls)}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return None, False
    except urllib.error.HTTPError as e:
        return f"{urlsplit(url).netloc} answered HTTP {e.code}", e.code >= 500 or e.code in (408, 429)
    except (urllib.error.URLError, OSError) as e:
        return f"{urlsplit(url).netloc}: {getattr(e, 'reason', e)}", True


def publish_from_config(view: SnapshotView, config: Config, **options: Any) -> PublishReport:
    """Publish ``view`` as the settings say: ``publish_url``, endpoint, region, purge; ``options`` go to :func:`publish`."""
    purger = None
    if config.publish_purge_command or config.publish_purge_url:
        purger = functools.partial(purge, command=config.publish_purge_command, hook_url=config.publish_purge_url)
    options.setdefault("cache_control", lambda item: f"public, max-age={config.scan_interval}")
    return publish(view, Target.from_config(config), site_url=config.site_url, purge=purger, **options)


@dataclass(frozen=True)
class PublishStatus:
    """The background publisher's state, for /healthz and /metrics."""

    #: "idle", "publishing" or "waiting" (to retry after a failure).
    state: str = "idle"
    #: Consecutive failed publishes; 0 after a success.
    failures: int = 0
    error: str | None = None
    last_success: datetime | None = None
    last_report: PublishReport | None = None

    def to_json(self) -> dict[str, Any]:
        report = self.last_report
        return {
            "state": self.state,
            "failures": self.failures,
            "error": self.error,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "version": report.version if report else None,
            "purge": report.fields()["purge"] if report else None,
        }


class Publisher:
    """Publish snapshots from one daemon thread, so serving never waits on a bucket.

    ``submit`` hands over the newest snapshot (it replaces one still waiting). A failed
    publish is tried again, without end, after ``retry_delay`` seconds, doubling up to
    ``max_retry_delay``, or at once for a newer snapshot. ``on_published`` gets each
    report (ping the WebSub hubs for its topics then).
    """

    def __init__(
        self,
        run: Callable[[SnapshotView], PublishReport],
        *,
        on_published: Callable[[PublishReport], None] | None = None,
        retry_delay: float = 30.0,
        max_retry_delay: float = 900.0,
    ) -> None:
        self.run, self.on_published = run, on_published
        self.backoff = Retry(attempts=1, delay=retry_delay, max_delay=max_retry_delay)
        self._status = PublishStatus()
        self._pending: SnapshotView | None = None
        self._busy = self._stopping = False
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()

    def submit(self, view: SnapshotView) -> None:
        with self._cond:
            self._pending = view
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="feeds-publisher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def status(self) -> PublishStatus:
        return self._status

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or running; False on timeout (tests, the command line)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the publish in progress, if any (waiting up to ``timeout``)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stopping)
                if self._stopping:
                    return
                view, self._pending, self._busy = self._pending, None, True
                self._status = replace(self._status, state="publishing")
            assert view is not None
            try:
                report = self.run(view)
            except Exception as e:  # even a bug must not end publishing for good
                self._failed(view, e)
                continue
            log.event("bucket_publish", **report.fields())
            with self._cond:
                self._status = PublishStatus("idle", 0, None, datetime.now(UTC), report)
            if self.on_published is not None:
                try:
                    self.on_published(report)
                except Exception as e:
                    log.event("bucket_publish_callback_failed", level=logging.ERROR, error=repr(e))
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _failed(self, view: SnapshotView, error: Exception) -> None:
        failures = self._status.failures + 1
        delay = self.backoff.wait(failures)
        text = str(error) if isinstance(error, FeedsError) else repr(error)
        log.event("bucket_publish_failed", level=logging.ERROR, error=text, failures=failures, retry_in=delay)
        with self._cond:
            self._status = replace(self._status, state="waiting", failures=failures, error=text)
            if self._pending is None:
                self._pending = view
            self._busy = False
            self._cond.notify_all()
            # A newer snapshot (submit) or stop ends the wait early.
            self._cond.wait_for(lambda: self._stopping or self._pending is not view, delay)
