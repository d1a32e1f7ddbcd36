"""Rendered post HTML on disk, named by what it was rendered from, so no post is rendered twice.

The key hashes the renderer's version, the post's URL (links are made absolute
against it) and its Markdown body's digest: any change to the source, the URL,
the Markdown code or the libraries misses. Entries are written atomically and
only by the builder's processes; a lost entry is rendered again, but an entry
that cannot be written is an error: the documents are rendered from these files.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from feeds.errors import StorageError
from feeds.fsutil import atomic_write
from feeds.models import Post
from feeds.render import markup
from feeds.render.markup import Rendered

_SEPARATOR = "\0"


def render_key(post: Post) -> str:
    """The name of ``post``'s rendered HTML."""
    digest = hashlib.sha256(f"{markup.renderer_version()}\n{post.url}\n{post.body_digest}".encode())
    return digest.hexdigest()[:32]


class RenderStore:
    """Rendered posts by key, in ``folder`` (two-level: ``ab/cdef…``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / key[2:]

    def get(self, key: str) -> Rendered | None:
        try:
            text = self._path(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        first, sep, html = text.partition(_SEPARATOR)
        return Rendered(html, first) if sep else None

    def has(self, key: str) -> bool:
        """Whether a whole rendering is stored (a file cut short by a power loss is not one: it is rendered again)."""
        return self.get(key) is not None

    def put(self, key: str, rendered: Rendered) -> None:
        """Store one rendering; StorageError (naming the file and the cause) when it cannot be written."""
        path = self._path(key)
        try:
            # Never the folders above it: a snapshot folder removed under the builder must not come back half made.
            self.folder.mkdir(exist_ok=True)
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, (rendered.first_paragraph + _SEPARATOR + rendered.html).encode("utf-8"), durable=False)
        except OSError as e:
            # Not a mere cache miss: the document jobs (other processes) read the rendering from this file.
            raise StorageError.from_os(path, "cannot write a rendered post", e) from e

    def prune(self, keep: set[str], removable: Callable[[Path], bool] = lambda path: True) -> int:
        """Remove the files whose key is not in ``keep`` (those ``removable`` allows: not one being written); return how many."""
        removed = 0
        try:
            shards = list(os.scandir(self.folder))
        except OSError:
            return 0
        for shard in shards:
            try:
                entries = list(os.scandir(shard.path))
            except OSError:
                continue
            for entry in entries:
                if shard.name + entry.name not in keep and removable(Path(entry.path)):
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except OSError:
                        pass
        return removed
