"""The snapshot folder: where it is by default, and the checks before any worker trusts it."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from feeds.config import Config
from feeds.errors import ConfigError
from feeds.fingerprint import settings_digest


def default_dir(config: Config) -> Path:
    """Return the automatic snapshot folder: private to this user, keyed by content folder and settings."""
    # A git remote's str() shows no credentials.
    content = config.content_dir.resolve() if isinstance(config.content_dir, Path) else config.content_dir
    key = hashlib.sha256(f"{content}\n{settings_digest(config)}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"feeds-{os.getuid()}-{key}"


def prepare_dir(config: Config) -> Path:
    """Create (or check) the snapshot folder; one another user could write is a ConfigError."""
    folder = config.snapshot_dir or default_dir(config)
    private = config.snapshot_dir is None
    try:
        folder.mkdir(mode=0o700 if private else 0o755, parents=True, exist_ok=True)
        # In a shared temp dir the name may have been planted: never follow a symlink there.
        info = os.lstat(folder) if private else os.stat(folder)
    except OSError as e:
        raise ConfigError("snapshot_dir", f"cannot create {folder}: {e.strerror}") from e
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError("snapshot_dir", f"{folder} is not a folder")
    if info.st_uid != os.getuid():
        raise ConfigError("snapshot_dir", f"{folder} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o022:
        raise ConfigError("snapshot_dir", f"{folder} is writable by other users")
    return folder
