"""Crash-safe writes: every file the service writes goes through here.

A file is written to a temporary sibling and renamed over its name, so a
reader sees the old or the new bytes, never a torn file; with ``durable`` the
bytes and the rename reach the disk before the call returns (fsync of the file
and of its folder), so a crash or power loss cannot lose what was reported
written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".tmp-"


def _temporary(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{threading.get_ident()}")


def atomic_write(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one step; with ``durable``, on disk before returning."""
    temporary = _temporary(path)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_symlink(target: str, link: Path) -> None:
    """Point the symlink ``link`` at ``target`` in one step (rename over it), durably."""
    temporary = _temporary(link)
    try:
        os.symlink(target, temporary)
        os.replace(temporary, link)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(link.parent)


def fsync_dir(folder: Path) -> None:
    """Make the renames and new names in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@lru_cache(maxsize=1)
def _syncfs() -> object | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    return getattr(libc, "syncfs", None)


def sync_filesystem(folder: Path) -> None:
    """Flush every file written under ``folder``'s file system to disk (one call instead of an fsync per file)."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:  # type: ignore[operator]
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(folder))
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2  # linux/fs.h


@lru_cache(maxsize=1)
def _renameat2() -> Any:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name, use_errno=True), "renameat2", None) if name else None


def exchange(a: Path, b: Path) -> None:
    """Swap the names of ``a`` and ``b`` in one step (Linux renameat2 RENAME_EXCHANGE); two renames where it is missing."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        error = ctypes.get_errno()
        if error not in (errno.ENOSYS, errno.EINVAL):  # not supported by this kernel or file system: rename twice below
            raise OSError(error, os.strerror(error), str(b))
    parked = b.with_name(f"{TEMP_PREFIX}{b.name}.{os.getpid()}")
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of this module (left behind by a crash)."""
    return name.startswith(TEMP_PREFIX)


def abandoned(path: Path, cutoff: float) -> bool:
    """Whether the temporary file ``path`` was left behind: no live process can be writing it, or it is older than ``cutoff``.

    Its name carries its writer's pid (see ``_temporary``): a builder's helper process writes
    its own, and may be writing one right now; a killed one's is left behind.
    """
    parts = path.name.rsplit(".", 2)  # ".tmp-<name>.<pid>.<thread>" (a write), ".tmp-<name>.<pid>" (an exchange)
    writer = parts[-2] if len(parts) == 3 and parts[-1].isdigit() and parts[-2].isdigit() else parts[-1]
    if not (writer.isdigit() and _alive(int(writer))):
        return True
    try:
        return path.stat(follow_symlinks=False).st_mtime < cutoff
    except OSError:
        return False


def _alive(pid: int) -> bool:
    if not 0 < pid < 1 << 22:  # above Linux's pid_max
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
