"""The builder's helper processes: both cores for a cold build, none for a small change.

Processes come from a fork server (started once, with the rendering code
imported), never from a fork of the builder itself: a worker of gunicorn or
granian runs threads, and forking a process with threads can copy a lock in a
held state. A job below ``min_items`` runs in the calling thread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from multiprocessing import forkserver, util
from typing import Any, TypeVar

from feeds.service.errors import Cancelled

#: Items a job runs in this process between two checks for a stop (a few milliseconds of work).
STEP = 32
T = TypeVar("T")
R = TypeVar("R")


def watch_parent(pid: int) -> None:
    """In a helper process: exit as soon as the builder process ``pid`` is gone."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was reused by another user's process: ours is gone
                os._exit(0)

    threading.Thread(target=watch, name="feeds-watch-builder", daemon=True).start()


def _start_fork_server() -> None:
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload(["feeds.service.jobs"])
        forkserver.ensure_running()
    except (OSError, RuntimeError, ValueError):  # the first job then runs here instead
        pass


def _stop_fork_server() -> None:
    """End this process's fork server, if it runs (its helpers end on their own: the pool asked them to)."""
    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)  # multiprocessing's own, for its tests: closes the server's "alive" pipe
    if stop is not None:
        with contextlib.suppress(OSError, ChildProcessError):
            stop()


class Pool:
    """A lazily started process pool for the builder's jobs (``feeds.service.jobs``)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        #: Called between two parts of a job (the builder counts it as progress); it may raise to stop the job.
        self.on_step: Callable[[], None] | None = None
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._finalizer: util.Finalize | None = None
        self._cancelled = threading.Event()

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._cancelled.is_set():  # never start helpers that nothing would stop
                raise Cancelled()
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["feeds.service.jobs"])
                # A helper outlives a builder killed with SIGKILL (it waits on a queue it also holds the writing
                # end of), and keeps the fork server alive with it: each helper watches the builder and leaves with it.
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=watch_parent, initargs=(os.getpid(),)
                )
                if self._finalizer is None:
                    # A granian worker is a multiprocessing process: when it stops, multiprocessing joins every
                    # child process before any atexit handler runs, so the helpers must have left before that
                    # join, and before the finalizers of the executor's queues (priority 10: the feeder thread
                    # that would carry the helpers' stop signal) and semaphores (priority 0) run.
                    self._finalizer = util.Finalize(self, self.close, kwargs={"wait": True}, exitpriority=100)
            return self._executor

    def warm_up(self) -> None:
        """Start the fork server now, in the background (it imports the rendering code), so the first big job does not wait.

        Only the server process: an executor would start a non-daemon thread, and no thread may keep a worker alive.
        """
        if self.parallel:
            threading.Thread(target=_start_fork_server, name="feeds-forkserver", daemon=True).start()

    def map(
        self, job: Callable[..., list[R]], items: Sequence[T], *args: Any, min_items: int = 64, start_from: int = 0, chunk: int = 0
    ) -> list[R]:
        """Run ``job(part, *args)`` over ``items`` split into parts, concatenating the results in order.

        Parallel from ``min_items`` when the processes run already; starting them (about half a
        second of CPU for the fork server's imports) only from ``start_from`` items. Between two
        parts (a few documents here, a helper's share there) a cancelled pool raises Cancelled.
        """
        self._step()
        if not items:
            return []
        if not self.parallel or len(items) < max(min_items, start_from if self._executor is None else 0):
            return self._here(job, items, args)
        size = chunk or max(8, -(-len(items) // (self.workers * 4)))
        parts = [items[i : i + size] for i in range(0, len(items), size)]
        try:
            futures: list[Future[list[R]]] = [self._get().submit(job, part, *args) for part in parts]
            results: list[R] = []
            for future in futures:
                results += future.result()
                self._step()
            return results
        except (OSError, BrokenExecutor, RuntimeError) as e:  # no processes here, or one died: do it in this one
            self._step()  # (unless they were ended on purpose)
            if isinstance(e, RuntimeError) and not isinstance(e, BrokenExecutor):
                raise
            self.close()
            return self._here(job, items, args)

    def _here(self, job: Callable[..., list[R]], items: Sequence[T], args: tuple[Any, ...]) -> list[R]:
        """Run the job in this process, STEP items at a time."""
        results: list[R] = []
        for start in range(0, len(items), STEP):
            self._step()
            results += job(items[start : start + STEP], *args)
        return results

    def _step(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled()
        if self.on_step is not None:
            self.on_step()

    def cancel(self) -> None:
        """Stop for good, at once: a job in progress raises Cancelled at its next step, the helper processes are ended now.

        What they were writing is written atomically (a temporary file, then a rename), so an ended
        helper leaves at most a temporary file, which the next prune removes.
        """
        self._cancelled.set()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            for process in list((getattr(executor, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    process.kill()
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self, wait: bool = False) -> None:
        """Stop the processes and the fork server (started again when needed); with ``wait``, until the helpers have exited.

        An idle fork server holds the rendering code it imported (~25 MB at any size); the next big job (a cold
        start, hundreds of changed files) starts it again in about half a second of CPU, and an edit never needs it.
        """
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
        _stop_fork_server()
