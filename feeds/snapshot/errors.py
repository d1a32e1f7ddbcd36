"""The errors of the snapshot folder: a manifest that cannot be read, a folder that cannot be written."""

from __future__ import annotations

from feeds.errors import FeedsError, StorageError


class ManifestError(FeedsError):
    """A manifest cannot be read (torn, from another format, or not a manifest)."""


class SnapshotError(StorageError):
    """The snapshot folder cannot be written or read; names the path and the cause."""
