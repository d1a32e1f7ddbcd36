"""A published snapshot as the documents a static host or an object store holds (no browser views), and its media files."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from feeds.snapshot.export import exported
from feeds.snapshot.manifest import Manifest
from feeds.snapshot.media import open_unchanged
from feeds.snapshot.store import Store


class Named(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def etag(self) -> str: ...


@dataclass(frozen=True)
class Document:
    """One document with the validators it is served with."""

    path: str
    media_type: str
    etag: str
    last_modified: datetime
    size: int
    gzip_size: int


class StoreView:
    """The documents of ``manifest``, their bytes read from ``store`` (what ``feeds publish`` copies)."""

    def __init__(self, manifest: Manifest, store: Store) -> None:
        if not manifest.complete:
            raise ValueError("only a complete snapshot is published")
        self.version = manifest.version
        self.store = store
        self.items: Mapping[str, Document] = {
            i.path: Document(i.path, i.media_type, i.etag, i.modified, i.size, i.gzip_size) for i in exported(manifest)
        }
        self.manifest = manifest
        #: The media folder's files, read from the folder (they are not in the store), with no gzip copy.
        self.media: Mapping[str, Document] = {
            m.path: Document(m.path, m.media_type, m.etag, m.modified, m.size, 0) for m in manifest.media.values()
        }

    def read(self, item: Named, gzip: bool = False) -> bytes:
        return self.store.read(item.etag, gzip)

    def open_media(self, item: Named) -> AbstractContextManager[BinaryIO]:
        """Open a media file; StorageError if it changed since the snapshot was built (its ETag would lie)."""
        return open_unchanged(self.manifest, self.manifest.media[item.path])
