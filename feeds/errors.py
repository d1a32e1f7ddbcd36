"""The exceptions this package raises; every one derives from FeedsError."""

from __future__ import annotations

from pathlib import Path


class FeedsError(Exception):
    """Base of every error this package raises."""


class ConfigError(FeedsError):
    """A configuration value is missing or invalid; names the key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config {key}: {message}")
        self.key = key
        self.message = message


class ContentError(FeedsError):
    """A content file cannot be published as it is; names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path = str(path)
        self.line = line or 1
        self.message = message


class ContentRootError(FeedsError):
    """The content folder itself cannot be read (missing, unmounted, no permission)."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message


class StorageError(FeedsError):
    """A file the service keeps on disk (a body, a manifest, a rendering) cannot be written or read; names the path and the cause."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message

    def __reduce__(self) -> tuple[type[StorageError], tuple[str, str]]:
        # Raised in the builder's helper processes and pickled back: rebuild from the arguments, not from str(self).
        return (type(self), (self.path, self.message))
