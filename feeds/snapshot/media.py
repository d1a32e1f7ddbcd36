"""The media folder in a snapshot: its files by URL path with their validators, served and exported from the folder.

Media are not copied into the object store (an episode is tens of megabytes, and the folder
already holds it): the manifest names each file with its SHA-256 ETag, size and Last-Modified,
every worker serves it from the folder while the file still has the size, modification time and
inode it was hashed with, and ``feeds build``/``feeds publish`` copy it from there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from feeds.content.media import TYPES, Media, MediaIndex, fill_lengths
from feeds.errors import StorageError
from feeds.models import Post
from feeds.snapshot.manifest import Manifest, MediaItem, last_modified
from feeds.urls import file_name


class MediaFolder:
    """The builder's media folder: scanned with the posts, its hashes kept across restarts, its rows in each manifest."""

    def __init__(self, saved: Path) -> None:
        #: Where the hashes are kept (in the builder's state folder): a restart does not hash every file again.
        self.saved = saved
        self.index = MediaIndex()
        self.index.load(saved)
        #: What the folder held at the last scan.
        self.now = Media()

    def scan(self, content_root: Path) -> bool:
        """Scan ``content_root/media``; return whether it changed since the last scan (its hashes are saved then)."""
        self.now, changed = self.index.scan(content_root)
        if changed:
            self.index.save(self.saved)
        return changed

    def posts(self, posts: tuple[Post, ...], site_url: str) -> tuple[Post, ...]:
        """The posts, each enclosure on a media file with the file's length when the post gives none."""
        return fill_lengths(posts, self.now, site_url) if self.now.files else posts  # (no pass over the posts without media)

    def post(self, post: Post | None, site_url: str) -> Post | None:
        """One post as :meth:`posts` gives it (for the posts a scan found changed)."""
        return None if post is None else self.posts((post,), site_url)[0]

    def fields(self, previous: Manifest | None, content_time: datetime, clock_from_files: bool, now: datetime) -> dict[str, Any]:
        """The manifest's ``media`` rows and ``media_root``, for the folder as last scanned."""
        media = media_items(self.now, previous, content_time, clock_from_files, now)
        return {"media": media, "media_root": str(self.now.root) if self.now.root is not None else None}


def media_items(
    media: Media, previous: Manifest | None, content_time: datetime, clock_from_files: bool, now: datetime
) -> dict[str, MediaItem]:
    """The manifest rows of ``media``; a file keeps its Last-Modified while its bytes stay the same.

    New bytes get the content's clock (or, for a folder, the file's own modification time if
    later), as a document does: see :func:`feeds.snapshot.manifest.last_modified`.
    """
    items = {}
    for file in media.files.values():
        old = previous.media.get(file.path) if previous is not None else None
        newest = datetime.fromtimestamp(file.mtime_ns // 1_000_000_000, UTC) if clock_from_files else None
        modified = last_modified((old.etag, old.last_modified) if old else (None, 0), file.etag, content_time, newest, now)
        items[file.path] = MediaItem(file.path, file.media_type, file.etag, modified, file.size, file.mtime_ns, file.inode)
    return items


def file_of(manifest: Manifest, item: MediaItem) -> Path:
    """Where ``item``'s bytes are on this host."""
    if manifest.media_root is None:
        raise StorageError(item.path, "the snapshot has no media folder")
    return Path(manifest.media_root, item.path.removeprefix("/media/"))


@contextmanager
def open_unchanged(manifest: Manifest, item: MediaItem) -> Iterator[BinaryIO]:
    """Open ``item``'s file; StorageError if it is gone or is no longer the version the manifest names."""
    path = file_of(manifest, item)
    try:
        f = path.open("rb")
    except OSError as e:
        raise StorageError(path, f"cannot read: {e.strerror}") from e
    with f:
        if not same_version(item, f):
            raise StorageError(path, "changed since the snapshot was built; the next scan serves the new version")
        yield f


def same_version(item: MediaItem, f: BinaryIO) -> bool:
    """Whether the open file is still the one ``item`` describes (same size, modification time and inode)."""
    info = os.fstat(f.fileno())
    return (info.st_size, info.st_mtime_ns, info.st_ino) == (item.size, item.mtime_ns, item.inode)


def export_media(manifest: Manifest, folder: Path) -> int:
    """Copy every media file of ``manifest`` under ``folder`` (``media/…``), dated with its Last-Modified; return the count.

    A file that changed since the snapshot was built stops the export (StorageError): the export
    must hold the bytes its manifest.json describes. The next scan hashes the new version.
    """
    for item in manifest.media.values():
        target = folder / file_name(item.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_unchanged(manifest, item) as source, target.open("wb") as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        os.utime(target, (item.last_modified, item.last_modified))
    return len(manifest.media)


def nginx_types() -> str:
    """The media folder's types as an nginx ``types`` block, for ``location /media/`` in deploy/nginx-static.conf.

    nginx picks a type by the ending after the last dot, lower-cased, as :func:`media_type` does;
    the one longer ending (``.chapters.json``) has its own location in the configuration.
    """
    lines = [f'    "{media_type}" {ending[1:]};' for ending, media_type in sorted(TYPES.items()) if ending.count(".") == 1]
    return "# Written by feeds build from feeds/content/media.py's TYPES: the media folder's types.\ntypes {\n" + "\n".join(lines) + "\n}\n"
