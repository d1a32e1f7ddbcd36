"""Look at the few files that file-system events named, instead of listing the content folder.

What :func:`~feeds.content.files.discover` would list for those paths, in time of
their number; anything unusual there (a symlink, a folder, a pipe, a bad name)
and the caller lists the folder whole, so every rule of the listing still holds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from feeds.content.files import BAD_NAME, SourceFile


@dataclass(frozen=True)
class Looked:
    """What looking at a few paths found (file-system events named them)."""

    #: Post files there now, and paths with no file any more.
    files: list[SourceFile]
    gone: list[str]
    #: Newest modification time (ns) of those files and of their folders.
    newest_ns: int


def folder_id(root: Path) -> tuple[int, int] | None:
    """The content folder's identity (device, inode), or None when it cannot be read."""
    try:
        info = os.stat(root.resolve(strict=True))
    except (OSError, RuntimeError):
        return None
    return info.st_dev, info.st_ino


def look_up(root: Path, rels: Iterable[str], listed: tuple[int, int] | None = None) -> Looked | None:
    """Look at the post files ``rels`` (relative to ``root``) only; None when one is anything but a plain file or gone.

    What :func:`discover` would list for those paths, when each is a regular ``.md`` file
    reached without a symlink (or no file at all); anything else (a symlink, a folder, a
    pipe, a bad name) returns None, and the caller lists the folder whole. So it does when
    ``root`` is no longer the folder ``listed`` identifies (the one last listed whole): a
    volume unmounted or a folder put in its place holds none of the files known.
    """
    try:
        real_root = root.resolve(strict=True)
        # Still a folder this process may read (made unreadable, it is listed whole, which says why it cannot be).
        fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
    except (OSError, RuntimeError):
        return None
    if listed is not None and (info.st_dev, info.st_ino) != listed:
        return None
    files: list[SourceFile] = []
    gone: list[str] = []
    newest = 0
    folders: set[str] = set()
    for rel in rels:
        parts = rel.split("/")
        if not rel.endswith(".md") or any(not part or part.startswith((".", "_")) for part in parts):
            continue  # never a post (the scan skips these names)
        if not (rel.isascii() and rel.isprintable()) and BAD_NAME.search(rel):
            return None
        path = os.path.join(real_root, rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            gone.append(rel)
            folders.add(os.path.dirname(path))
            continue
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        files.append(SourceFile(Path(path), rel, info.st_size, info.st_mtime_ns, info.st_ino, real_root))
        newest = max(newest, info.st_mtime_ns)
        folders.add(os.path.dirname(path))
    for folder in folders:  # a removed or renamed file moves its folder's time (a full listing sees it too)
        try:
            newest = max(newest, os.stat(folder).st_mtime_ns)
        except OSError:
            return None
    return Looked(files, gone, newest)


def at_least(root: Path, count: int) -> bool:
    """Whether ``root`` and its first-level folders hold at least ``count`` entries (a cheap guess at a big site)."""
    seen = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return False
    seen += len(entries)
    for entry in entries:
        if seen >= count:
            break
        try:
            if not entry.name.startswith((".", "_")) and entry.is_dir():
                with os.scandir(entry.path) as inner:
                    seen += sum(1 for _ in inner)
        except OSError:
            continue
    return seen >= count
