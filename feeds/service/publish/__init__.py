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

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.errors import FeedsError
from feeds.render.plan import cache_max_age
from feeds.service.errors import PublishError
from feeds.service.publish.bucket import PublishReport, make_client, publish
from feeds.service.publish.plan import (
    EMPTY,
    MANIFEST_NAME,
    Item,
    Manifest,
    Retry,
    SnapshotView,
    Target,
    object_name,
    plan,
    public_url,
)
from feeds.service.publish.purge import PurgeResult, purge
from feeds.snapshot.manifest import Manifest as SnapshotManifest
from feeds.snapshot.store import Held, Store
from feeds.snapshot.view import StoreView


def publish_from_config(view: SnapshotView, config: Config, **options: Any) -> PublishReport:
    """Publish ``view`` as the settings say: ``publish_url``, endpoint, region, purge; ``options`` go to :func:`publish`."""
    purger = None
    if config.publish_purge_command or config.publish_purge_url:
        purger = functools.partial(purge, command=config.publish_purge_command, hook_url=config.publish_purge_url)
    options.setdefault(
        "cache_control", lambda item: f"public, max-age={cache_max_age(item.path, view.items.__contains__, config.scan_interval)}"
    )
    # Moved paths become S3 website redirects; a removed one ("gone") has no object: a bucket cannot answer 410.
    options.setdefault("redirects", {r.source: r.target for r in config.redirects if r.target is not None})
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


__all__ = [
    "EMPTY",
    "MANIFEST_NAME",
    "Item",
    "Manifest",
    "Mirror",
    "PublishError",
    "PublishReport",
    "PublishStatus",
    "Publisher",
    "PurgeResult",
    "Retry",
    "SnapshotView",
    "Target",
    "make_client",
    "object_name",
    "plan",
    "public_url",
    "publish",
    "publish_from_config",
    "purge",
]


class Mirror:
    """Keep a bucket in step with the host's snapshots: after every complete publish, from the builder only.

    A builder listener (so only the host's builder publishes), on a daemon thread
    (so serving never waits on the bucket); WebSub pings wait for the upload
    (``on_published`` gets the report's topics), so a hub never fetches a URL
    before the CDN origin has its new bytes.
    """

    def __init__(self, config: Config, store: Store, on_published: Callable[[PublishReport], None] | None = None) -> None:
        self.config, self.store = config, store
        self.publisher = Publisher(self._upload, on_published=on_published)
        #: The manifest of each snapshot waiting or being uploaded, held so the builder's prune keeps its bodies.
        self._holds: dict[int, Held] = {}
        self._uploading: int | None = None
        self._lock = threading.Lock()

    def on_publish(self, old: SnapshotManifest | None, new: SnapshotManifest) -> None:
        """Builder listener: copy each complete snapshot to the bucket (older ones still waiting are skipped)."""
        if not new.complete:
            return
        view = StoreView(new, self.store)
        held = self.store.hold(new.name())  # now, before the builder prunes after this publish
        with self._lock:
            if held is not None:
                self._holds[id(view)] = held
            # A snapshot still waiting is replaced by this one and never uploaded: let its bodies go.
            replaced = [key for key in self._holds if key not in (id(view), self._uploading)]
            released = [self._holds.pop(key) for key in replaced]
        for old_hold in released:
            old_hold.release()
        self.publisher.submit(view)

    def _upload(self, view: SnapshotView) -> PublishReport:
        with self._lock:
            self._uploading = id(view)
        try:
            return publish_from_config(view, self.config)
        finally:
            with self._lock:
                self._uploading = None
                held = self._holds.pop(id(view), None)
            if held is not None:
                held.release()

    def status(self) -> dict[str, Any]:
        return self.publisher.status().to_json()

    def start(self) -> Mirror:
        """Nothing to start: the publishing thread starts with the first complete snapshot."""
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Stop after the upload in progress, waiting for it until ``deadline`` (a ``time.monotonic()`` value)."""
        self.publisher.stop(10.0 if deadline is None else max(0.0, deadline - time.monotonic()))
