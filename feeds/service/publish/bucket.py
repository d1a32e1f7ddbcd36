"""The S3 side of a publish: read the bucket's manifest, upload the waves, write the manifest, delete the rest.

Documents are read whole (a feed is kilobytes); media files are streamed from their file, part by
part above MULTIPART_THRESHOLD, so an hour of video never sits in memory.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from feeds.service.errors import PublishError
from feeds.service.publish.plan import (
    DEFAULT_RETRY,
    EMPTY,
    MANIFEST_NAME,
    Item,
    Manifest,
    Retry,
    SnapshotView,
    Target,
    Upload,
    plan,
    steps,
)
from feeds.service.publish.purge import PurgeResult

T = TypeVar("T")
#: Media files above this size are sent as a multipart upload (S3's parts are 5 MiB at least, but the last).
MULTIPART_THRESHOLD = 16 << 20
#: The size of each part: what one upload holds in memory at a time (the file is read part by part).
MULTIPART_CHUNK = 8 << 20


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
    retry: Retry = DEFAULT_RETRY,
    workers: int = 8,
    purge: Callable[[Sequence[str]], PurgeResult] | None = None,
    redirects: Mapping[str, str] | None = None,
) -> PublishReport:
    """Make the bucket at ``target`` hold ``view``, uploading only what its manifest does not show.

    Then ``purge`` gets the changed URLs; the report's ``topics`` are ready for WebSub pings.
    Raises PublishError (naming the object) when a call still fails after ``retry``; the
    bucket's manifest is then the previous one, and every object it lists is readable.
    """
    started = time.monotonic()
    bucket = _Bucket(client if client is not None else make_client(target, workers), target, retry)
    remote = bucket.read_manifest()
    todo = plan(view, remote, site_url=site_url, cache_control=cache_control, gzip_siblings=gzip_siblings, force=force, redirects=redirects)
    uploaded = uploaded_bytes = manifest_bytes = deleted = 0
    pending: tuple[str, ...] = ()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feeds-publish") as pool:
        for step in (step for wave in todo.waves for step in steps(wave)):
            tasks = [functools.partial(bucket.put_document, view, upload, gz) for upload in step for gz in upload.variants]
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
        if upload.streamed:
            return self.put_file(view, upload)
        name = upload.name + (".gz" if gz else "")
        if upload.item is None:  # a moved path: an empty object the website endpoint answers with a 301
            redirect = upload.entry.redirect
            self.call(
                name,
                "upload",
                lambda: self.client.put_object(
                    Bucket=self.target.bucket,
                    Key=self.target.prefix + name,
                    Body=b"",
                    ContentType=upload.entry.media_type,
                    CacheControl=upload.entry.cache_control,
                    WebsiteRedirectLocation=redirect,
                ),
            )
            return 0
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

    def put_file(self, view: SnapshotView, upload: Upload) -> int:
        """Stream a media file to its object, part by part (boto3's managed upload), opened again on each try."""
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig

        assert upload.item is not None
        item, entry = upload.item, upload.entry
        # In this worker's thread: the publish's pool is the concurrency, so at most one part per worker is in memory.
        transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, use_threads=False)
        extra = {
            "ContentType": entry.media_type,
            "CacheControl": entry.cache_control,
            "Metadata": {
                "etag": entry.etag,
                "last-modified": email.utils.format_datetime(datetime.fromisoformat(entry.last_modified), usegmt=True),
            },
        }

        def send() -> None:
            with view.open_media(item) as f:
                try:
                    self.client.upload_fileobj(f, self.target.bucket, self.target.prefix + upload.name, ExtraArgs=extra, Config=transfer)
                except S3UploadFailedError as e:  # it wraps the call's own error: keep that, so a 503 is retried
                    raise (e.__context__ if isinstance(e.__context__, Exception) else e) from None

        self.call(upload.name, "upload", send)
        return entry.size

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
