"""The builder's content index on disk, so that the next builder carries on where this one stopped.

It holds every file's stamp and parsed record and the last good version of
each broken post with its source record (the file's text then): a restart, a
reload or a new builder reads no unchanged file again and keeps serving a broken
post as it was last published. Saved with the settings and code it was made by:
under other settings or code every file is read again, and each kept post is made
again from its source record, so it stays published (under the new URLs).

The index is split into ``SHARDS`` files by a hash of each file's path, and a
save rewrites only the shards holding a file that changed: an edit on a
10k-post site writes ~300 entries, not all of them (that took ~160 ms of the
builder's CPU after every publish). Each shard is written atomically and
durably and names the settings and code it was made with, so shards of
different ages are each whole; an entry older than its file only means that
file is read again.

The files are data (:mod:`feeds.service.statefile`), never code: a folder that
holds anything else (a pickle of an older version, damage, a planted file) is
set aside under another name, logged, and the index starts afresh.
"""

from __future__ import annotations

import logging
import os
import shutil
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from feeds import log
from feeds.config import Config
from feeds.content.index import ContentIndex, Known
from feeds.fingerprint import code_digest, settings_digest
from feeds.fsutil import atomic_write, fsync_dir
from feeds.service import statefile

#: The folder of shard files inside the state folder.
NAME = "index"
SHARDS = 32
#: The shard files' suffix; the folder holding anything else is set aside, not read.
SUFFIX = ".state"
#: Folders set aside (``index.unreadable-<time>``) kept for a look, newest first; older ones are removed.
KEEP_SET_ASIDE = 3


def shard_of(rel: str) -> int:
    return zlib.crc32(rel.encode("utf-8", "surrogatepass")) % SHARDS


def shard_name(shard: int) -> str:
    return f"{shard:02d}{SUFFIX}"


def save(folder: Path, config: Config, index: ContentIndex) -> bool:
    """Write what changed in ``index`` durably into ``folder``; return False (logged) if it could not be written."""
    unsaved = index.unsaved()
    shards = set(range(SHARDS)) if unsaved is None else {shard_of(rel) for rel in unsaved}
    if not shards:
        return True
    entries: dict[int, dict[str, Known]] = {shard: {} for shard in shards}
    for rel, entry in index.state().items():
        if (shard := shard_of(rel)) in entries:
            entries[shard][rel] = entry
    settings, code = settings_digest(config), code_digest()
    path = folder / NAME
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for shard in sorted(shards):
            atomic_write(path / shard_name(shard), statefile.dumps(settings, code, shard, entries[shard]), mode=0o600)
    except OSError as e:  # tried again after the next publish (the shards written so far are whole)
        log.event("state_failed", logging.ERROR, path=str(path), reason=e.strerror or str(e))
        return False
    index.saved(unsaved)
    return True


def restore(folder: Path, config: Config, index: ContentIndex) -> None:
    """Start ``index`` from the state saved in ``folder``, if there is one.

    Saved under these settings by this code, it is taken as it is; otherwise only the
    kept posts' source records are (the index makes them again). A folder that does not
    hold this format is set aside and logged. What then needs saving is the index's to say.
    """
    path = folder / NAME
    try:
        names = set(os.listdir(path))
    except FileNotFoundError:
        return
    except OSError as e:
        log.event("state_unreadable", logging.WARNING, path=str(path), error=e.strerror or str(e))
        return
    expected = {shard_name(shard) for shard in range(SHARDS)}
    strange = {name for name in names - expected if not name.startswith(".tmp-")}
    if strange:  # a pickle of an older version, or anything else: never opened
        _set_aside(path, f"holds files that are not {SUFFIX} shards: {', '.join(sorted(strange)[:3])}")
        return
    if names & expected != expected:
        return  # never saved whole (a first save cut short): every file is read again
    try:
        shards = [statefile.loads((path / shard_name(shard)).read_bytes()) for shard in range(SHARDS)]
        if any(data.shard != number for number, data in enumerate(shards)):
            raise ValueError("a shard holds another shard's entries")
        known = _merged(statefile.entries(data) for data in shards)
    except OSError as e:
        log.event("state_unreadable", logging.WARNING, path=str(path), error=e.strerror or str(e))
        return
    except Exception as e:  # not this format, damaged, or values no record can hold: never guessed at
        _set_aside(path, f"{type(e).__name__}: {e}")
        return
    settings, code = settings_digest(config), code_digest()
    same = all(data.settings == settings and data.code == code for data in shards)
    index.restore(known, fresh=not same)


def _set_aside(path: Path, reason: str) -> None:
    """Rename the shard folder out of the way (kept for a look, never read), and say so."""
    aside = path.with_name(f"{path.name}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}")
    try:
        os.rename(path, aside)
        fsync_dir(path.parent)
        for old in sorted(path.parent.glob(f"{path.name}.unreadable-*"), reverse=True)[KEEP_SET_ASIDE:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        log.event("state_unreadable", logging.ERROR, path=str(path), error=e.strerror or str(e), reason=reason[:300])
        return
    log.event("state_set_aside", logging.WARNING, path=str(path), moved_to=str(aside), reason=reason[:300])


def _merged(parts: Iterable[dict[str, Known]]) -> dict[str, Known]:
    merged: dict[str, Known] = {}
    for part in parts:
        merged |= part
    return merged
