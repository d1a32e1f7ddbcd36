"""File-system events for the content folder (Linux inotify), so an edit is seen at once instead of at the next scan.

Chosen over ``watchfiles`` (Rust ``notify``): its Python side hands changes over
from a loop that sleeps ``step`` milliseconds and waits for one quiet step (50 ms
by default, so 50–100 ms of an edit's 100 ms budget), and that loop wakes and
takes the GIL every step in a worker that serves requests; inotify's ``read``
blocks in the kernel, costs nothing while nothing changes, and hands an event
over within microseconds. Linux is the production platform (``deploy/``); the
kernel interface is four calls through ``ctypes``, so no dependency is added.
Elsewhere (or without inotify watches left) :func:`watch` returns None and the
periodic scan alone finds changes, as before.

The watch says *which files* changed (paths relative to the folder), or that the
whole folder must be listed again (:data:`EVERYTHING`): a folder created, moved or
removed, the event queue overflowed, the root itself moved. The periodic scan
stays as a safety net for what no event reports (a network file system, a file
changed through another mount).

https://man7.org/linux/man-pages/man7/inotify.7.html
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from feeds import log
from feeds.limits import MAX_WATCHED_FOLDERS

#: What a wait returns when the whole folder must be listed again.
EVERYTHING = None
#: A set of changed relative paths, or EVERYTHING.
Paths = set[str] | None

# inotify(7) constants (linux/inotify.h).
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
#: A file is read once it is closed after writing or moved into place (an editor's atomic save), never half written;
#: IN_ATTRIB for ``touch``; IN_CREATE only matters for folders and symlinks (a new file is read at its close).
MASK = IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
_EVENT = struct.Struct("iIII")
#: After an event, changes are gathered until none came for this long (seconds), at most SETTLE_MOST: a loop that
#: deletes or writes many files (a deploy, ``rm *.md``: events microseconds apart) is one change, not a string of partial
#: ones. Short, as it is part of every edit's time to the workers (a slower writer's files make two changes, each whole).
QUIET = 0.005
SETTLE_MOST = 0.25
_READ_SIZE = 1 << 16


class Touched:
    """The files events named since the last scan took them (EVERYTHING: list the folder whole; so at first)."""

    def __init__(self) -> None:
        self._paths: Paths = EVERYTHING
        self._lock = threading.Lock()

    def add(self, paths: Paths) -> None:
        with self._lock:
            if paths is EVERYTHING or self._paths is EVERYTHING:
                self._paths = EVERYTHING
            else:
                self._paths |= paths

    def take(self) -> Paths:
        """What was named so far, forgotten here (a scan that fails adds EVERYTHING back)."""
        with self._lock:
            paths, self._paths = self._paths, set()
        return paths


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch  # noqa: B018 - present, or AttributeError
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class _Inotify:
    """An inotify descriptor and a pipe that wakes a thread waiting on it; :meth:`close` from any thread."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)
        self.closed = False

    def close(self) -> None:
        """Stop watching; a wait in progress returns at once."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def release(self) -> None:
        """Close the descriptors (after the waiting thread has returned)."""
        self.close()
        for fd in (self._fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class Watch(_Inotify):
    """An inotify watch over a folder tree: :meth:`wait` blocks until files change (or :meth:`close` is called)."""

    def __init__(self, root: Path, libc: ctypes.CDLL) -> None:
        super().__init__(libc)
        self.root = root
        self._libc = libc
        #: Each watched folder's path relative to the root ("" for the root), by watch descriptor.
        self._folders: dict[int, str] = {}
        #: Whether the tree holds symlinks: an event names the target's path, not the link's, so every event lists it all.
        self.linked = False
        try:
            self.add_tree("")
        except OSError:
            self.release()
            raise

    def add_tree(self, rel: str) -> None:
        """Watch the folder ``rel`` and every folder below it that a scan would walk (names not starting with . or _)."""
        for folder, linked in _folders(self.root, rel):
            self.linked |= linked
            if len(self._folders) >= MAX_WATCHED_FOLDERS:
                raise OSError(errno.ENOSPC, f"more than {MAX_WATCHED_FOLDERS} folders to watch")
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(self.root / folder if folder else self.root), MASK)
            if wd < 0:
                code = ctypes.get_errno()
                if code in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                    continue  # gone already, or a folder the scan reports as unreadable
                raise OSError(code, os.strerror(code))
            self._folders[wd] = folder

    def wait(self, timeout: float | None = None) -> Paths:
        """Block until something changes (or ``timeout`` seconds pass: an empty set); the changed files, or EVERYTHING.

        After :meth:`close`, returns an empty set at once.
        """
        if self.closed or not self._ready(timeout):
            return set()
        changed: set[str] = set()
        everything = False
        settled = time.monotonic() + SETTLE_MOST
        while True:
            everything |= self._read(changed)
            if self.closed or time.monotonic() >= settled or not self._ready(QUIET):
                break
        if self.closed:
            return set()
        return EVERYTHING if everything or (changed and self.linked) else changed

    def _ready(self, timeout: float | None) -> bool:
        """Wait for events (False: none within ``timeout``, or closed)."""
        ready = self._poll.poll(None if timeout is None else int(timeout * 1000))
        return bool(ready) and not self.closed and not any(fd == self._wake_r for fd, _ in ready)

    def _read(self, changed: set[str]) -> bool:
        """Add the files the events waiting now name to ``changed``; return whether the folder must be listed whole."""
        everything = False
        for wd, mask, name in self._events():
            if mask & (IN_Q_OVERFLOW | IN_UNMOUNT):
                everything = True
                continue
            folder = self._folders.get(wd)
            if mask & IN_IGNORED:
                self._folders.pop(wd, None)
                everything = True  # a watched folder went (removed, unmounted): list it all again
                continue
            if folder is None:
                continue
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                everything = True  # a watched folder (or the root) moved or went: list it all again
                continue
            if not name or name.startswith((".", "_")):
                continue  # the scan skips these too (the empty-site marker is read at every full listing)
            rel = f"{folder}/{name}" if folder else name
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    with contextlib.suppress(OSError):  # past the limit: the periodic scan still sees it
                        self.add_tree(rel)
                everything = True  # posts came or went with a folder
                continue
            if not name.endswith(".md"):
                continue
            if mask & IN_CREATE and not os.path.islink(self.root / rel):
                continue  # a new regular file is read when it is closed after writing, not empty and half written
            changed.add(rel)
        return everything

    def _events(self) -> Iterator[tuple[int, int, str]]:
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                yield wd, mask, os.fsdecode(raw)


class Signals(_Inotify):
    """Wake a worker when a file in its snapshot folder is replaced or closed (``current`` swapped, the builder's status
    written, the builder lock let go by a builder that ends), instead of looking every 50 ms."""

    #: Renames into the folder (``current``, ``status.json``), closes after writing (``builder.lock``), the folder itself going.
    MASK = IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR

    def __init__(self, folder: Path, libc: ctypes.CDLL) -> None:
        super().__init__(libc)
        #: The folder went (removed, moved): watch it again once it is back.
        self.lost = False
        if libc.inotify_add_watch(self._fd, os.fsencode(folder), self.MASK) < 0:
            code = ctypes.get_errno()
            self.release()
            raise OSError(code, os.strerror(code))

    def wait(self, timeout: float) -> None:
        """Return when something in the folder changed, :meth:`close` was called, or ``timeout`` seconds passed."""
        if self.closed or not self._poll.poll(int(timeout * 1000)):
            return
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except OSError:
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT):
                    self.lost = True


def signals(folder: Path) -> Signals | None:
    """Wake-ups for changes in the snapshot ``folder``; None where inotify is not available (the worker polls)."""
    if _LIBC is None:
        return None
    try:
        return Signals(folder, _LIBC)
    except OSError:
        return None


def _folders(root: Path, rel: str) -> Iterator[tuple[str, bool]]:
    """``rel`` and the real folders below it that the scan walks, each with whether it holds a symlink."""
    stack = [rel]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(root / folder if folder else root))
        except OSError:
            yield folder, False
            continue
        linked = False
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_symlink():
                linked = True  # followed by the scan when it stays inside the root; its events name the target
                continue
            try:
                if entry.is_dir():
                    stack.append(f"{folder}/{entry.name}" if folder else entry.name)
            except OSError:
                continue
        yield folder, linked


def watch(root: Path) -> Watch | None:
    """Watch ``root`` for changed post files; None where inotify is not available (the periodic scan alone finds changes)."""
    if _LIBC is None:
        return None
    try:
        return Watch(root, _LIBC)
    except OSError as e:
        log.event("watch_unavailable", logging.WARNING, path=str(root), reason=e.strerror or str(e))
        return None
