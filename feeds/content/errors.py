"""The errors of reading content: a post file, the content folder, the git source."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from feeds.errors import FeedsError
from feeds.gitremote import redact

#: What went wrong when syncing git content.
ErrorKind = Literal["unreachable", "timeout", "bad_ref", "missing_folder", "busy", "git"]


class ContentError(FeedsError):
    """A content file cannot be published as it is; names the file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path = str(path)
        self.line = line or 1
        self.message = message

    def __reduce__(self) -> tuple[type[ContentError], tuple[str, str, int]]:
        return (type(self), (self.path, self.message, self.line))


class ContentRootError(FeedsError):
    """The content folder itself cannot be read (missing, unmounted, no permission)."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message

    def __reduce__(self) -> tuple[type[ContentRootError], tuple[str, str]]:
        return (type(self), (self.path, self.message))


class GitSourceError(FeedsError):
    """Syncing the git content failed; the last checkout (and snapshot) stays as it was."""

    def __init__(self, remote: str, ref: str, message: str, kind: ErrorKind = "git") -> None:
        super().__init__(redact(f"git {remote} ({ref}): {message}"))
        #: The remote with any credentials hidden.
        self.remote = redact(remote)
        self.ref = ref
        self.message = redact(message)
        #: What went wrong: unreachable, timeout, bad_ref, missing_folder, busy or git (a local failure).
        self.kind: ErrorKind = kind

    def __reduce__(self) -> tuple[type[GitSourceError], tuple[str, str, str, ErrorKind]]:
        return (type(self), (self.remote, self.ref, self.message, self.kind))
