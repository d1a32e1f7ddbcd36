"""Real small file systems for the fault tests: a size-limited tmpfs, a read-only view of a folder, a disk filled up.

Mounting needs root with CAP_SYS_ADMIN; without it :func:`tmpfs` skips the test
and says why. Every mount is undone when the block ends, also on failure.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_TIMEOUT = 10


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True, timeout=_TIMEOUT)


def _umount(folder: Path) -> None:
    # Lazy: a worker may hold a body open for a moment; the mount goes now, its open files stay valid.
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True, timeout=_TIMEOUT)


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``"24m"``) on ``folder`` for the block; skip the test if mounting is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder))
    except FileNotFoundError:
        pytest.skip("no mount command here: these tests need a real small file system")
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {e.stderr.strip()}")
    try:
        yield folder
    finally:
        _umount(folder)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """Make ``folder`` read-only for the block: a read-only bind mount of it over itself.

    Remounting the whole file system read-only is refused while a worker holds a file open
    for writing (the builder lock); a new bind mount has no such file, and every path looked
    up from now on goes through it, so writes fail with EROFS as on a read-only disk.
    """
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        _umount(folder)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill ``folder``'s file system with one file until ENOSPC, then free ``leave`` bytes; return the file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = 1 << 20
        while chunk:
            try:
                os.write(fd, bytes(chunk))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk //= 2
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def free_bytes(folder: Path) -> int:
    info = os.statvfs(folder)
    return info.f_bavail * info.f_frsize
