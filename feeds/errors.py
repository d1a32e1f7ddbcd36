"""The root of every error this package raises, and the errors every stage shares.

Each stage keeps its own errors in one module, all derived from :class:`FeedsError`:
``feeds.content.errors`` (files, posts, the git source), ``feeds.snapshot.errors``
(manifests and the snapshot folder), ``feeds.db.errors`` (the database),
``feeds.fediverse.errors`` (signatures, remote servers, incoming activities),
``feeds.service.errors`` (the builder, its helper processes, the bucket). ``docs/errors.md`` lists them all. An error raised
in a builder's helper process is pickled back to the builder: each one rebuilds
from its constructor's arguments (``__reduce__``), never from its message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self


class FeedsError(Exception):
    """Base of every error this package raises."""


class ConfigError(FeedsError):
    """A configuration value is missing or invalid; names the key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config {key}: {message}")
        self.key = key
        self.message = message

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str]]:
        return (type(self), (self.key, self.message))


class StorageError(FeedsError):
    """A file the service keeps on disk (a body, a manifest, a rendering) cannot be written or read; names the path and the cause."""

    def __init__(self, path: str | Path, message: str, cause: str | None = None) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message
        #: What failed, in the system's words ("No space left on device"): the same for every file a full or
        #: read-only disk refuses, where the path and ``message`` vary. None: ``message`` says it all.
        self.cause = cause

    @classmethod
    def from_os(cls, path: str | Path, action: str, error: OSError) -> Self:
        """The error of ``action`` ("cannot write a body") on ``path`` failing with ``error``."""
        cause = error.strerror or str(error)
        return cls(path, f"{action}: {cause}", cause)

    def __reduce__(self) -> tuple[type[StorageError], tuple[str, str, str | None]]:
        # Raised in the builder's helper processes and pickled back: rebuild from the arguments, not from str(self).
        return (type(self), (self.path, self.message, self.cause))
