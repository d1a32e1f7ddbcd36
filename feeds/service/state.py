"""The builder's content index on disk, so that the next builder carries on where this one stopped.

It holds every file's stamp and parsed record and the last good version of
each broken post: a restart, a reload or a new builder reads no unchanged file
again and keeps serving a broken post as it was last published. Saved with the
settings and code it was made by: other settings start afresh (every URL may
differ); other code reads every file again but keeps the last good versions.

The index is split into ``SHARDS`` files by a hash of each file's path, and a
save rewrites only the shards holding a file that changed: an edit on a
10k-post site writes ~300 entries, not all of them (that took ~160 ms of the
builder's CPU after every publish). Each shard is written atomically and
durably and names the settings and code it was made with, so shards of
different ages are each whole; an entry older than its file only means that
file is read again.
"""

from __future__ import annotations

import logging
import pickle
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.content.index import ContentIndex
from feeds.fingerprint import code_digest, settings_digest
from feeds.fsutil import atomic_write

#: The folder of shard files inside the state folder.
NAME = "index"
SHARDS = 32


def shard_of(rel: str) -> int:
    return zlib.crc32(rel.encode("utf-8", "surrogatepass")) % SHARDS


def save(folder: Path, config: Config, index: ContentIndex) -> bool:
    """Write what changed in ``index`` durably into ``folder``; return False (logged) if it could not be written."""
    unsaved = index.unsaved()
    shards = set(range(SHARDS)) if unsaved is None else {shard_of(rel) for rel in unsaved}
    if not shards:
        return True
    entries: dict[int, dict[str, Any]] = {shard: {} for shard in shards}
    for rel, entry in index.state().items():
        if (shard := shard_of(rel)) in entries:
            entries[shard][rel] = entry
    head = {"settings": settings_digest(config), "code": code_digest()}
    path = folder / NAME
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for shard in sorted(shards):
            data = pickle.dumps(head | {"shard": shard, "index": entries[shard]}, pickle.HIGHEST_PROTOCOL)
            atomic_write(path / f"{shard:02d}.pickle", data, mode=0o600)
    except OSError as e:  # tried again after the next publish (the shards written so far are whole)
        log.event("state_failed", logging.ERROR, path=str(path), reason=e.strerror or str(e))
        return False
    index.saved(unsaved)
    return True


def restore(folder: Path, config: Config, index: ContentIndex) -> None:
    """Start ``index`` from the state saved in ``folder``, if it holds one this code and these settings can use.

    What then needs saving (everything, after an upgrade or with no usable state) is the index's to say.
    """
    path = folder / NAME
    try:
        shards = [pickle.loads((path / f"{shard:02d}.pickle").read_bytes()) for shard in range(SHARDS)]  # noqa: S301 - our own private files
        if not all(isinstance(data, dict) and data.get("settings") == settings_digest(config) for data in shards):
            return  # other settings: every post's URL or fields may differ, and the kept versions with them
        upgraded = any(data.get("code") != code_digest() for data in shards)
        index.restore(_merged(data["index"] for data in shards), reread=upgraded)
    except FileNotFoundError:
        return
    except Exception as e:  # torn, or saved by code whose records this code cannot use: read every file again
        log.event("state_unreadable", logging.WARNING, path=str(path), error=repr(e))


def _merged(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged |= part
    return merged
