"""The composition root: every long-lived part of a worker, built from ``Config`` in this one place.

:func:`compose` makes the snapshot folder, the runtime (what this worker
serves, the builder lock, and the factory of the builder it builds with when
it takes the lock), the WebSub publisher and the bucket mirror, and returns
them as :class:`Services`. ``create_app`` (the web edge) and the ``feeds``
commands start from here and nothing else wires services together.

Adding a service (a database, a delivery worker, a subscriber counter) takes a few lines:

1. a field of :class:`Services` (``None`` while its setting is off), built in :func:`compose` from ``config``;
2. give it ``start()`` and ``stop(deadline)`` — ``deadline`` is a ``time.monotonic()`` value to return by —
   and name it in :meth:`Services.parts`: parts start in that order and stop in the reverse;
3. if it reacts to publishes, append its ``on_publish(old, new)`` to ``listeners`` in :func:`compose`: it is
   called in the host's builder only, after each publish, with the previous and the new manifest
   (``feeds.snapshot.manifest.Manifest``; ``old`` is None for the first), and must return quickly;
4. if every worker's /healthz should show its state, add a reader to ``status_fields`` (it runs in the builder;
   the other workers see its value through ``status.json``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing.util
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from feeds import log
from feeds.config import Config
from feeds.render.store import RenderStore
from feeds.service.builder import Builder, Listener
from feeds.service.database import DatabaseService
from feeds.service.fediverse import Fediverse
from feeds.service.folders import prepare_dir
from feeds.service.pool import Pool
from feeds.service.publish import Mirror
from feeds.service.roles import StatusFields
from feeds.service.runtime import Runtime
from feeds.service.signals import on_stop_signal
from feeds.service.sources import Sync, content_source
from feeds.service.subscribers import SubscriberCounter, follower_counts
from feeds.service.websub import Publisher
from feeds.snapshot.manifest import Manifest
from feeds.snapshot.store import Store

#: How long ``Services.start(wait=True)`` waits for the complete first snapshot (tests, ``feeds build``).
BUILD_WAIT = 600.0
#: How long a stop may take in all: every part is given what is left of it.
STOP_WITHIN = 4.0


class Service(Protocol):
    """A long-lived part of a worker."""

    def start(self) -> object: ...

    def stop(self, deadline: float | None = None) -> None: ...


@dataclass
class Services:
    """Every long-lived part of one worker, built by :func:`compose`."""

    config: Config
    #: What this worker serves, and the builder it runs when it holds the host's builder lock.
    runtime: Runtime
    #: WebSub publish pings (None without ``websub_hubs``).
    websub: Publisher | None = None
    #: Copies every complete snapshot to the bucket (None without ``publish_url`` and ``publish_on_rebuild``).
    mirror: Mirror | None = None
    #: The database (``database_url``; None with ``stats`` and ``fediverse`` off), opened in the background.
    database: DatabaseService | None = None
    #: Counts this worker's polls and writes them to the database (None with ``stats`` off).
    subscribers: SubscriberCounter | None = None
    #: The fediverse: the inbox's handles, and the cluster's one deliverer while this worker holds its lease
    #: (None with ``fediverse`` off).
    fediverse: Fediverse | None = None
    _stopping: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def parts(self) -> Sequence[Service]:
        """The parts that run, in the order they start; they stop in the reverse.

        So the counter writes the last polls first (a build in progress may then take the rest of the
        deadline), the runtime stops publishing before the mirror and the pings stop, the deliverer hands
        its lease on once nothing is published any more, and the database closes last.
        """
        parts = (self.database, self.fediverse, self.websub, self.mirror, self.runtime, self.subscribers)
        return [part for part in parts if part is not None]

    def start(self, *, wait: bool = False, stop_on_signal: bool = False) -> Services:
        """Start every part; with ``wait``, build here (without a schedule) and wait for the complete first snapshot.

        With ``stop_on_signal`` (a worker of granian or gunicorn) the stop begins as soon as the
        worker is told to stop (``feeds.service.signals``), not once it has finished its requests.
        """
        log.event("start", pid=os.getpid(), **self.config.summary())
        if stop_on_signal:
            on_stop_signal(self.stop)
        for part in self.parts():
            part.start()
        if wait:
            runtime = self.runtime
            builder = runtime.builder if not runtime.schedule else None
            if builder is not None:
                runtime.builder_run()
            if builder is None or builder.error is None:  # a build that failed here publishes nothing more until a rescan
                runtime.wait_for(lambda m: m is not None and m.complete, BUILD_WAIT)
        atexit.register(self._stop_at_exit)
        # A granian worker is a multiprocessing process, which ends with os._exit(): no atexit handler runs
        # there, but multiprocessing's finalizers do, highest priority first: this one before the helper
        # pool's (100), so that a build in progress is cancelled before the pool is closed (a build that
        # went on would start helper processes nothing stops, and multiprocessing waits for them).
        multiprocessing.util.Finalize(None, self._stop_at_exit, exitpriority=110)
        return self

    def stop(self, deadline: float | None = None) -> None:
        """Stop every part by ``deadline`` (a ``time.monotonic()`` value; STOP_WITHIN from now by default).

        Safe to call twice, and from two threads at once (a stop signal and the exit hooks): the second waits for the first.
        """
        deadline = deadline if deadline is not None else time.monotonic() + STOP_WITHIN
        with self._stopping:
            for part in reversed(self.parts()):
                part.stop(deadline)

    def _stop_at_exit(self) -> None:
        logging.raiseExceptions = False  # stderr may be closed by now (a test runner, a server shutting down)
        self.stop()


def compose(config: Config, *, schedule: bool = True, publishing: bool = True, source: Sync | None = None) -> Services:
    """Build every service of a worker from ``config`` (nothing starts yet: :meth:`Services.start`).

    ``schedule``: scan every ``scan_interval`` as the builder (False: only when asked); ``publishing``:
    with the WebSub pings, the bucket mirror, the subscriber counter and the fediverse (False for the
    commands that build once and publish themselves); ``source``: where posts are read from (by default the content
    folder or git remote).
    """
    folder = prepare_dir(config)
    store = Store(folder)
    store.create()
    websub = Publisher(config.websub_hubs, config.site_url) if publishing and config.websub_hubs else None
    listeners: list[Listener] = []
    status_fields: StatusFields = {}
    mirror = None
    if publishing and config.publish_url and config.publish_on_rebuild:
        # Copy every complete snapshot to the bucket; hubs hear of a change once its objects are readable there.
        mirror = Mirror(config, store, on_published=lambda report: websub.publish(report.topics) if websub else None)
        listeners.append(mirror.on_publish)
        status_fields["publish"] = mirror.status
    elif websub is not None:
        listeners.append(websub.on_publish)
    sync = source or content_source(config, folder / "git")

    def make_builder(served: Manifest | None) -> Builder:
        """The host's builder, made when this worker takes the builder lock (listeners run only there: one ping per change per host)."""
        renders = RenderStore(config.cache_dir or folder / "render")
        if config.cache_dir is not None:  # an operator's folder, maybe not made yet (the default one is in `folder`)
            with contextlib.suppress(OSError):  # (else the first rendering says why it cannot be written)
                config.cache_dir.mkdir(parents=True, exist_ok=True)
        return Builder(config, store, renders, Pool(), folder / "state", sync, manifest=served, listeners=list(listeners))

    runtime = Runtime(config, store, make_builder, schedule=schedule, status_fields=status_fields)
    database = DatabaseService(config, folder) if publishing and (config.stats or config.fediverse) else None
    subscribers = SubscriberCounter(config, database, follower_counts(config)) if database is not None and config.stats else None
    fediverse = Fediverse(config, runtime, database) if database is not None and config.fediverse else None
    return Services(config, runtime, websub, mirror, database, subscribers, fediverse)
