"""The builder's content index on disk, so that the next builder carries on where this one stopped.

It holds every file's stamp and parsed record and the last good version of
each broken post with its source record (the file's text then): a restart, a
reload or a new builder reads no unchanged file again and keeps serving a broken
post as it was last published. Saved with the settings and code it was made by:
under other settings or code every file is read again, and each kept post is made
again from its source record, so it stays published (under the new URLs).

The index is split into ``SHARDS`` files by a hash of each file's path, and a
save rewrites only the shards holding a file that changed: an edit on a
100k-post site writes ~400 entries (one 256th), not all of them, and finds
them without a pass over every file (the index keeps each shard's files).
Each shard is written atomically and durably and names the settings and code
it was made with, so shards of different ages are each whole; an entry older
than its file only means that file is read again, and a shard with no file
holds nothing (a save writes none for an empty shard: a small site has a few
files, not 256). A whole save writes its shards from several threads, so the
disk syncs them together.

The builder's heap holds a good post's source record only until it is saved:
then its file holds it, and the shard does. A shard written again takes its
unchanged entries' sources from the shard it replaces (or, if that is gone,
from their files, when they have not changed), and a post whose file breaks
gets its last good source back from its shard (:func:`recall`).

The files are data (:mod:`feeds.service.statefile`), never code: a folder that
holds anything else (a pickle of an older version, damage, a planted file) is
set aside under another name, logged, and the index starts afresh.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
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
SHARDS = 256
#: The shards of index format 3 as saved before (``NN.state``): read once, then written again as ``SHARDS``.
LEGACY_SHARDS = 32
#: Threads writing a whole save's shards (their syncs are committed together).
WRITERS = 8
#: Shards made at a time by a save (the sources read back for them are held until they are written: 1/8 of them).
BATCH = 32
#: The shard files' suffix; the folder holding anything else is set aside, not read.
SUFFIX = ".state"
#: Folders set aside (``index.unreadable-<time>``) kept for a look, newest first; older ones are removed.
KEEP_SET_ASIDE = 3


def shard_of(rel: str, shards: int = SHARDS) -> int:
    return zlib.crc32(rel.encode("utf-8", "surrogatepass")) % shards


def shard_name(shard: int, shards: int = SHARDS) -> str:
    return f"{shard:0{len(str(shards - 1))}d}{SUFFIX}"


def save(folder: Path, config: Config, index: ContentIndex) -> bool:
    """Write what changed in ``index`` durably into ``folder``; return False (logged) if it could not be written."""
    unsaved = index.unsaved()
    shards = set(range(SHARDS)) if unsaved is None else {shard_of(rel) for rel in unsaved}
    if not shards:
        return True
    members = _members(index, unsaved)
    settings, code = settings_digest(config), code_digest()
    path = folder / NAME
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _Writer(path, parallel=len(shards) > 1) as writer:
            order = sorted(shards)
            for start in range(0, len(order), BATCH):  # (the sources read back for a batch are held until it is written)
                batch = {shard: index.entries(sorted(members.get(shard, ()))) for shard in order[start : start + BATCH]}
                _with_sources(path, index, batch)
                for shard, entries in batch.items():
                    if entries:
                        writer.write(shard_name(shard), statefile.dumps(settings, code, shard, entries))
                    else:  # (no file is an empty shard: a small site writes a few, not SHARDS)
                        (path / shard_name(shard)).unlink(missing_ok=True)
        if unsaved is None:
            for legacy in range(LEGACY_SHARDS):
                (path / shard_name(legacy, LEGACY_SHARDS)).unlink(missing_ok=True)
    except OSError as e:  # tried again after the next publish (the shards written so far are whole)
        log.event("state_failed", logging.ERROR, path=str(path), reason=e.strerror or str(e))
        return False
    index.saved(unsaved)
    return True


def _members(index: ContentIndex, unsaved: set[str] | None) -> dict[int, set[str]]:
    """The files each shard holds: from every file once, then brought up to date with what changed."""
    shards = index.shards
    if shards is None or unsaved is None:
        shards = {}
        for rel in index.state():
            shards.setdefault(shard_of(rel), set()).add(rel)
        index.shards = shards
    else:
        present = index.entries(unsaved)
        for rel in unsaved:
            if rel in present:
                shards.setdefault(shard_of(rel), set()).add(rel)
            else:
                shards.get(shard_of(rel), set()).discard(rel)
    return shards


def _with_sources(path: Path, index: ContentIndex, shards: dict[int, dict[str, Known]]) -> None:
    """Put back the source records the index let go (or never had): from the shard files they were saved in, else their files."""
    unread: list[tuple[int, str, Known]] = []
    for shard, entries in shards.items():
        missing = [rel for rel, known in entries.items() if known.last_good is not None and not known.source_z]
        if not missing:
            continue
        try:
            saved = statefile.sources((path / shard_name(shard)).read_bytes(), missing)
        except FileNotFoundError:
            saved = {}  # (a first save, or the state folder went with the snapshot folder: the files have them)
        for rel in missing:
            known = entries[rel]
            found = saved.get(rel)
            if found is not None and found[1] and found[0] == statefile.stamp_key(known.stamp):
                entries[rel] = replace(known, source_z=found[1], body_at=found[2])
            elif known.loaded.post is not None:  # (a broken file holds no good source)
                unread.append((shard, rel, known))
    records = index.sources([(rel, known) for _, rel, known in unread]) if unread else []
    for (shard, rel, known), record in zip(unread, records, strict=True):
        if record is not None:
            shards[shard][rel] = replace(known, source_z=record[0], body_at=record[1])


class _Writer:
    """Writes shard files atomically and durably, several at once when ``parallel`` (a bounded number waiting)."""

    def __init__(self, path: Path, parallel: bool) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="feeds-state") if parallel else None
        self._room = threading.Semaphore(2 * WRITERS)
        self._futures: list[Future[None]] = []

    def write(self, name: str, data: bytes) -> None:
        if self._pool is None:
            atomic_write(self.path / name, data, mode=0o600)
            return
        self._room.acquire()
        future = self._pool.submit(atomic_write, self.path / name, data, mode=0o600)
        future.add_done_callback(lambda _: self._room.release())
        self._futures.append(future)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            for future in self._futures:
                future.result()  # the first OSError, as a serial save raises it


def recall(folder: Path) -> Callable[[str, Known], tuple[bytes, int] | None]:
    """Reads a post's source record back from the shard it was saved in (with that very stamp), for the index."""

    def read(rel: str, known: Known) -> tuple[bytes, int] | None:
        try:
            found = statefile.sources((folder / NAME / shard_name(shard_of(rel))).read_bytes(), (rel,)).get(rel)
        except OSError:
            return None
        if found is None or not found[1] or found[0] != statefile.stamp_key(known.stamp):
            return None
        return found[1], found[2]

    return read


def restore(folder: Path, config: Config, index: ContentIndex) -> None:
    """Start ``index`` from the state saved in ``folder``, if there is one.

    Saved under these settings by this code, it is taken as it is; otherwise only the
    kept posts' source records are (the index makes them again). A folder that does not
    hold this format is set aside and logged. What then needs saving is the index's to say.
    The shards of the previous layout (``LEGACY_SHARDS``) are read too, and the next save writes the index whole.
    """
    index.recall = recall(folder)
    path = folder / NAME
    try:
        names = set(os.listdir(path))
    except FileNotFoundError:
        return
    except OSError as e:
        log.event("state_unreadable", logging.WARNING, path=str(path), error=e.strerror or str(e))
        return
    expected = {shard_name(shard) for shard in range(SHARDS)}
    legacy = {shard_name(shard, LEGACY_SHARDS) for shard in range(LEGACY_SHARDS)}
    strange = {name for name in names - expected - legacy if not name.startswith(".tmp-")}
    if strange:  # a pickle of an older version, or anything else: never opened
        _set_aside(path, f"holds files that are not {SUFFIX} shards: {', '.join(sorted(strange)[:3])}")
        return
    # The old layout is read only whole (it is removed once the new one is); a shard file of this one that is not
    # there holds nothing (a save writes no empty shard), or was never written: its files are read again.
    count = LEGACY_SHARDS if names >= legacy else SHARDS if names & expected else 0
    if not count:
        return
    try:
        shards: list[tuple[str, str]] = []
        known: dict[str, Known] = {}
        for number in range(count):
            if count == SHARDS and shard_name(number) not in names:
                continue
            data = statefile.loads((path / shard_name(number, count)).read_bytes())
            if data.shard != number:
                raise ValueError("a shard holds another shard's entries")
            known |= statefile.entries(data, sources=count != SHARDS)  # (the sources of good posts stay on disk)
            shards.append((data.settings, data.code))
    except OSError as e:
        log.event("state_unreadable", logging.WARNING, path=str(path), error=e.strerror or str(e))
        return
    except Exception as e:  # not this format, damaged, or values no record can hold: never guessed at
        _set_aside(path, f"{type(e).__name__}: {e}")
        return
    settings, code = settings_digest(config), code_digest()
    same = all(saved == (settings, code) for saved in shards)
    index.restore(known, fresh=not same)
    if count != SHARDS:
        index.forget_saved()  # written whole in this layout at the next save (which removes the old one)
    else:
        for name in names & legacy:  # (left by a whole save cut short after its last shard)
            (path / name).unlink(missing_ok=True)


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
