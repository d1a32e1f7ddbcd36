"""Hear a stop signal the moment it arrives, before the server has finished the requests it holds.

granian and gunicorn tell a worker to stop with SIGTERM (SIGINT, SIGQUIT) and
install their own handlers for it. Their worker then finishes the requests it
holds before it returns, and only then do the app's exit hooks run: a build
running meanwhile (a ``POST /-/rebuild`` waits for one) would hold the worker
past its kill timeout, and another worker could take the builder lock and start
a fresh scan. So a daemon thread listens on Python's signal wakeup fd, which the
interpreter writes every caught signal's number to as it arrives, whoever
handles it: the stop begins at once. Each byte is passed on to the wakeup fd
that was there before (gunicorn's worker wakes its own loop with it).

The signal must also reach the thread that handles it. Python runs a signal's
handler in the main thread only, and the kernel hands a process's signal to any
of its threads: a granian worker's main thread waits on a lock for its
shutdown, and a signal that lands in another thread (a builder thread at work
is the likeliest) only marks the handler as due, so the worker never stops (it
did, now and then: granian killed it after its timeout). So the listener wakes
the main thread with a signal of its own (WAKE, whose handler does nothing),
which makes it run the handlers that are due.

A granian worker is forked from granian's main process and loads the app
before it installs its own handlers: a SIGTERM that arrives meanwhile (a stop
right after a start) goes to the handler it inherited from the main process,
which only sets a flag in the worker's copy of the main process's state, and
the worker would serve on until granian kills it. So while such an inherited
handler is in place, a stop signal is kept (and one it swallowed already is
noticed) and sent again once the worker has its own handler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

#: The signals that mean "stop" to granian's and gunicorn's workers.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
#: Sent to the main thread to interrupt what it waits for, so that it runs the handlers that are due.
WAKE = signal.SIGRTMIN + 3

_callbacks: list[Callable[[], None]] = []
_lock = threading.Lock()
_installed = False


def on_stop_signal(callback: Callable[[], None]) -> bool:
    """Call ``callback`` (in a daemon thread) as soon as a stop signal reaches this process; return whether it can be heard.

    Must be called from the main thread the first time (the wakeup fd is the main thread's);
    from another thread, or where no wakeup fd can be set, it returns False and the exit hooks
    alone stop the service.
    """
    global _installed
    with _lock:
        if not _installed:
            if threading.current_thread() is not threading.main_thread():
                return False
            read, write = os.pipe()
            os.set_blocking(write, False)
            try:
                previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
            except (ValueError, OSError):
                os.close(read)
                os.close(write)
                return False
            signal.signal(WAKE, _nothing)
            threading.Thread(target=_listen, args=(read, previous), name="feeds-signals", daemon=True).start()
            _keep_early_stops()
            _installed = True
        _callbacks.append(callback)
        early = _early.is_set()
    if early:
        callback()
    return True


#: A stop signal arrived while the worker still had the handler it inherited from its server's main process.
_early = threading.Event()


def _keep_early_stops() -> None:
    """Where the stop handler is one inherited from granian's main process, keep stop signals for the worker's own."""
    inherited = signal.getsignal(signal.SIGTERM)
    owner = getattr(inherited, "__self__", None)
    if owner is None or not hasattr(owner, "interrupt_signal"):  # not granian's main process's: the worker's own, or none
        return
    if getattr(owner, "interrupt_signal", False):  # it took a SIGTERM meant for this worker already
        _early.set()

    def keep(signum: int, frame: object) -> None:
        _early.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, keep)
    threading.Thread(target=_send_again, args=(keep,), name="feeds-early-stop", daemon=True).start()


def _send_again(keep: object, timeout: float = 300.0) -> None:
    """Once the worker has installed its own handler, send it the stop signal it missed (if any)."""
    deadline = time.monotonic() + timeout
    while signal.getsignal(signal.SIGTERM) is keep and time.monotonic() < deadline:
        time.sleep(0.01)
    if _early.is_set() and signal.getsignal(signal.SIGTERM) is not keep:
        with contextlib.suppress(OSError):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)  # to the thread that handles it


def _wake_main_thread() -> None:
    main = threading.main_thread()
    if main.is_alive() and main.ident is not None:
        with contextlib.suppress(OSError):
            signal.pthread_kill(main.ident, WAKE)


def _nothing(signum: int, frame: object) -> None:
    """WAKE's handler: the signal only interrupts the main thread's wait, which then runs the handlers that are due."""


def _listen(read: int, previous: int) -> None:
    stopping = False
    while True:
        try:
            data = os.read(read, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        if previous >= 0:
            with contextlib.suppress(OSError):  # full or closed: it only wakes a loop that looks anyway
                os.write(previous, data)
        if not stopping and any(number in STOP_SIGNALS for number in data):
            stopping = True
            _wake_main_thread()
            with _lock:
                callbacks = list(_callbacks)
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    logging.getLogger("feeds").exception("stopping on a signal failed")
