"""The fediverse in a worker: the inbox (every worker) and the delivery of the queue (one process per cluster).

Every worker answers actors, WebFinger and inboxes. Exactly one process of the
whole cluster — every worker of every host sharing the database — delivers: the
holder of the database lease ``fediverse-delivery`` (``feeds.db.lease``), taken
by whichever worker asks first and renewed every third of its length; a holder
that dies lets it expire and another worker takes over. The holder looks at the
snapshot its worker serves after each publish, queues what followers must be told
(``feeds.fediverse.publishing``), and sends the queue: due deliveries oldest
first, ``DELIVERY_THREADS`` at once and at most ``DELIVERY_PER_HOST`` to one
remote host, each signed when it is sent. A delivery leaves the queue only after
a 2xx (or an answer that retrying cannot change: 410 Gone removes the inbox's
follows; other 4xx but 401, 408 and 429 are dropped); anything else is retried
with exponential backoff for ``DELIVERY_RETRY_SECONDS`` and then dropped with a
log line. The queue is in the database, so a restart or a crash loses nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feeds import limits, log, urls
from feeds.config import Config
from feeds.db import lease
from feeds.fediverse import signatures, store
from feeds.fediverse.accounts import Directory
from feeds.fediverse.errors import RefusedError
from feeds.fediverse.inbox import Inbox, site_signer
from feeds.fediverse.net import Client, Policy
from feeds.fediverse.publishing import Publisher
from feeds.fediverse.store import Delivery
from feeds.snapshot.manifest import Item, Manifest

if TYPE_CHECKING:
    from feeds.db import Database
    from feeds.service.database import DatabaseService
    from feeds.service.runtime import Runtime

LEASE = "fediverse-delivery"
#: Seconds the delivering loop sleeps when nothing is due (a new delivery is found within this).
IDLE = 0.2
#: Seconds between removals of activities whose deliveries are all over.
COLLECT_EVERY = 60.0
#: Longest time /healthz shows the same reading of followers and the queue, in seconds.
STATUS_SECONDS = 5.0
#: Answers that retrying cannot change (Mastodon's DeliveryWorker drops 4xx too, but for these).
_RETRYABLE_4XX = frozenset({401, 408, 429})


@dataclass
class Stats:
    """What this process delivered (for tests and /healthz)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    #: Monotonic time of the last 2xx.
    last_sent: float = 0.0


@dataclass
class Fediverse:
    """This worker's fediverse: the inbox, and the deliverer thread that works while this process holds the lease."""

    config: Config
    runtime: Runtime
    databases: DatabaseService
    holder: str = field(default_factory=lease.this_process)
    stats: Stats = field(default_factory=Stats)
    _client: Client = field(init=False)
    _keys: store.Keys | None = field(default=None, init=False)
    _inbox: Inbox | None = field(default=None, init=False)
    _directory: tuple[str, Directory] | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _wake: threading.Condition = field(default_factory=threading.Condition, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _leading: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _outcomes: list[tuple[Delivery, int | None, str]] = field(default_factory=list, init=False)
    _status: tuple[float, dict[str, object]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._client = Client(Policy.of(self.config))

    # -- for the web layer -------------------------------------------------------------------

    def database(self, timeout: float = 5.0) -> Database:
        """The open database (DatabaseError when it is not open within ``timeout``)."""
        return self.databases.wait(timeout)

    def keys(self) -> store.Keys:
        with self._lock:
            if self._keys is None:
                self._keys = store.Keys(self.database())
            return self._keys

    def inbox(self) -> Inbox:
        with self._lock:
            if self._inbox is None:
                database = self.database()
                self._keys = self._keys or store.Keys(database)
                self._inbox = Inbox(self.config, database, self._client, self._keys, site_signer(self._keys, self.config))
            return self._inbox

    def directory(self, manifest: Manifest) -> Directory:
        """The accounts of a manifest's tags (cached per manifest version)."""
        cached = self._directory
        if cached is None or cached[0] != manifest.version:
            cached = (manifest.version, Directory.of(self.config, manifest))
            self._directory = cached
        return cached[1]

    def status(self) -> dict[str, object]:
        """For /healthz: whether this process delivers; followers, the queue and its newest failure (read every few seconds)."""
        from feeds.db import DatabaseError

        fields: dict[str, object] = {"delivering": self._leading}
        if not self.databases.ready:
            return fields
        cached, now = self._status, time.monotonic()
        if cached is None or not 0 <= now - cached[0] < STATUS_SECONDS:
            try:
                with self.database(0).read() as connection:
                    cached = (now, store.status(connection))
            except DatabaseError as e:
                return {**fields, "error": str(e)}
            self._status = cached
        return {**fields, **cached[1]}

    def wake(self) -> None:
        """Look at the queue now (a delivery was just queued by this process)."""
        with self._wake:
            self._wake.notify_all()

    @property
    def delivering(self) -> bool:
        return self._leading

    # -- start and stop ---------------------------------------------------------------------

    def start(self) -> Fediverse:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="feeds-fediverse", daemon=True)
            self._thread.start()
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Stop delivering (deliveries in flight finish or are retried later) and give the lease up. Safe to call twice."""
        self._stop.set()
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, (deadline or time.monotonic() + 5) - time.monotonic()))

    # -- the deliverer ------------------------------------------------------------------------

    def _run(self) -> None:
        database: Database | None = None
        while not self._stop.is_set():
            try:
                database = self.databases.wait(timeout=1.0)
            except Exception:  # the database is not open yet (DatabaseError): its service retries it
                if self._stop.wait(1.0):
                    return
                continue
            break
        if database is None:
            return
        pool = ThreadPoolExecutor(limits.DELIVERY_THREADS, thread_name_prefix="feeds-deliver")
        try:
            self._deliver_while_leading(database, pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if self._leading:
                try:
                    with store.writing(database) as connection:
                        lease.release(connection, LEASE, self.holder)
                except Exception:
                    logging.getLogger("feeds").exception("cannot release the delivery lease")
                self._leading = False

    def _deliver_while_leading(self, database: Database, pool: ThreadPoolExecutor) -> None:
        renewed = 0.0
        served: Manifest | None = None
        publisher = Publisher(self.config, database, self._read)
        in_flight: dict[int, Delivery] = {}
        bodies: dict[int, bytes] = {}
        hosts: dict[str, int] = {}
        collected = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now - renewed >= limits.DELIVERY_LEASE_SECONDS / 3:
                leading = self._renew(database)
                renewed = now
                if leading and not self._leading:
                    log.event("fediverse_delivering", holder=self.holder)
                    served = None  # a new holder looks at every post once
                self._leading = leading
            if not self._leading:
                with self._wake:
                    self._wake.wait(limits.DELIVERY_LEASE_SECONDS / 3)
                continue
            try:
                current = self.runtime.current
                if current is not None and (served is None or current.version != served.version):
                    report = publisher.reconcile(served, current)
                    if report.created or report.updated or report.deleted or report.recorded:
                        log.event(
                            "fediverse_publish",
                            created=report.created,
                            updated=report.updated,
                            deleted=report.deleted,
                            announced=report.announced,
                            recorded=report.recorded,
                            deliveries=report.deliveries,
                        )
                    served = current
                with self._wake:
                    done = self._outcomes[:]
                    self._outcomes.clear()
                for delivery, _, _ in done:
                    in_flight.pop(delivery.id, None)
                    hosts[delivery.host] -= 1
                    if not hosts[delivery.host]:
                        del hosts[delivery.host]
                if done:
                    self._record(database, done)
                # Keep between one and two threads' worth of deliveries in flight: the queue is read
                # when half of them are done, not after each one.
                room = limits.DELIVERY_THREADS * 2 - len(in_flight)
                if len(in_flight) <= limits.DELIVERY_THREADS:
                    busy = [h for h, n in hosts.items() if n >= limits.DELIVERY_PER_HOST]
                    batch = store.due(database, min(room, limits.DELIVERY_BATCH), busy, in_flight)
                    batch = self._per_host(batch, hosts)
                    missing = {d.activity for d in batch} - bodies.keys()
                    if missing:
                        if len(bodies) > 256:
                            bodies.clear()
                        bodies.update(store.bodies(database, missing))
                    for delivery in batch:
                        in_flight[delivery.id] = delivery
                        hosts[delivery.host] = hosts.get(delivery.host, 0) + 1
                        pool.submit(self._send, delivery, bodies.get(delivery.activity, b""))
                if time.monotonic() - collected > COLLECT_EVERY:
                    store.collect(database)
                    collected = time.monotonic()
            except Exception:  # a database that went away, a surprise: keep the loop alive
                logging.getLogger("feeds").exception("fediverse delivery loop failed")
                self._stop.wait(1.0)
            with self._wake:
                if len(self._outcomes) < max(1, len(in_flight) // 2):
                    self._wake.wait(IDLE if not in_flight else 0.05)

    def _per_host(self, batch: list[Delivery], hosts: dict[str, int]) -> list[Delivery]:
        taken: dict[str, int] = {}
        out = []
        for delivery in batch:
            if hosts.get(delivery.host, 0) + taken.get(delivery.host, 0) < limits.DELIVERY_PER_HOST:
                taken[delivery.host] = taken.get(delivery.host, 0) + 1
                out.append(delivery)
        return out

    def _renew(self, database: Database) -> bool:
        try:
            with store.writing(database) as connection:
                return lease.acquire(connection, LEASE, self.holder, limits.DELIVERY_LEASE_SECONDS)
        except Exception as e:
            log.event("fediverse_lease_failed", logging.WARNING, error=str(e)[:300])
            return False

    def _read(self, item: Item) -> bytes:
        return self.runtime.store.read(item.etag)

    def _send(self, delivery: Delivery, body: bytes) -> None:
        status: int | None = None
        error = ""
        try:
            private, _ = self.keys().get(delivery.actor)
            key_id = urls.absolute(self.config.site_url, delivery.actor) + "#main-key"

            def sign(method: str, target: str, host: str, data: bytes | None) -> dict[str, str]:
                return signatures.sign(private, key_id, method, target, host, data)

            response = self._client.request(
                "POST",
                delivery.inbox,
                {"Content-Type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"', "Accept": "*/*"},
                body,
                limit=64 * 1024,
                sign=sign,
            )
            status = response.status
            error = f"HTTP {status}"
        except RefusedError as e:
            status, error = -1, str(e)
        except Exception as e:
            error = f"{type(e).__name__}: {str(e)[:200]}"
        with self._wake:
            self._outcomes.append((delivery, status, error))
            self._wake.notify_all()

    def _record(self, database: Database, done: list[tuple[Delivery, int | None, str]]) -> None:
        sent, dropped, gone = [], [], []
        retry: dict[int, tuple[int, str]] = {}
        now = store.now_ms()
        for delivery, status, error in done:
            if status is not None and 200 <= status < 300:
                sent.append(delivery.id)
                continue
            permanent = status == -1 or (status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX)
            expired = now - delivery.created_at > limits.DELIVERY_RETRY_SECONDS * 1000
            if permanent or expired:
                dropped.append(delivery.id)
                if status == 410:
                    gone.append(delivery.inbox)
                reason = "gone" if status == 410 else "refused" if permanent else "expired"
                log.event(
                    "fediverse_delivery_dropped",
                    logging.WARNING,
                    inbox=delivery.inbox[:200],
                    attempts=delivery.attempts + 1,
                    reason=reason,
                    error=error,
                )
                continue
            wait = min(limits.DELIVERY_FIRST_RETRY * 2**delivery.attempts, limits.DELIVERY_MAX_RETRY)
            retry[delivery.id] = (now + int(wait * 1000), error)
            log.event(
                "fediverse_delivery_retry",
                logging.WARNING,
                inbox=delivery.inbox[:200],
                attempt=delivery.attempts + 1,
                retry_in=wait,
                error=error,
            )
        store.finish(database, sent, retry, dropped)
        for inbox in gone:
            removed = store.remove_inbox(database, inbox)
            log.event("fediverse_inbox_gone", inbox=inbox[:200], follows=removed)
        self.stats.sent += len(sent)
        self.stats.failed += len(retry)
        self.stats.dropped += len(dropped)
        if sent:
            self.stats.last_sent = time.monotonic()
            log.tally("fediverse_delivery", result="ok", count=len(sent))
