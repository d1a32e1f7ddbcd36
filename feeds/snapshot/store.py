"""The snapshot folder on disk: the single source of truth every worker serves from.

Layout of ``snapshot_dir``::

    current -> manifests/00000042-<version>.json   the published snapshot (a symlink, swapped in one rename)
    manifests/                                      the current manifest, and older ones a worker still serves
    objects/ab/cdef…  objects/ab/cdef….gz           bodies named by their ETag (content-addressed)
    state/                                          the builder's memory across restarts (content index)
    render/                                         rendered post HTML (a cache keyed by source)

Objects are written before the manifest that names them, and the manifest
before ``current`` points at it; each step is atomic, so a crash at any point
leaves the previous snapshot whole. A publish writes only objects whose bytes
are new (an edit to one post writes the few documents it changed) and one
manifest. Each worker holds the manifest it serves (a shared ``flock`` on its
file); the builder's prune, a moment after each publish, removes every older
manifest no worker holds and the objects only those named, so an edit never
leaves the folder holding two snapshots. Leftovers of a failed or killed
publish (temporary files, objects no manifest names) go with it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

from feeds.fsutil import abandoned, atomic_symlink, atomic_write, is_temporary, sync_filesystem
from feeds.snapshot.errors import ManifestError, SnapshotError
from feeds.snapshot.manifest import Manifest, loads

CURRENT = "current"
MANIFESTS = "manifests"
OBJECTS = "objects"
#: The crash tests' hook (see Store._pause).
PAUSE_VARIABLE = "FEEDS_PAUSE_AT"
#: Temporary files of a live process are removed only once they are this old (seconds): it may be writing them.
TEMP_AGE = 300.0
#: igzip level 3: about 15× faster than zlib level 6 on our feeds for ~6% more bytes (a cold 10k-post build gzips ~1 GB).
GZIP_LEVEL = 3


def etag_of(data: bytes) -> str:
    """Return the strong ETag of ``data``: the quoted first 32 hex digits of its SHA-256."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def compress(data: bytes) -> bytes:
    """Gzip ``data`` the same way every time (mtime 0, no file name)."""
    return igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(frozen=True, slots=True)
class Stored:
    """What writing one body produced."""

    etag: str
    size: int
    gzip_size: int
    #: Whether the object was new (False: the same bytes were stored already).
    written: bool


class Store:
    """One ``snapshot_dir``: write bodies and manifests, publish, read what is published."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.objects = folder / OBJECTS
        self.manifests = folder / MANIFESTS

    def create(self) -> None:
        """Create the folders (the snapshot folder itself exists: the caller checked its owner)."""
        for folder in (self.objects, self.manifests):
            try:
                folder.mkdir(mode=0o755, exist_ok=True)
            except OSError as e:
                raise SnapshotError.from_os(folder, "cannot create", e) from e

    # -- bodies ------------------------------------------------------------------------

    def object_path(self, etag: str, gzip: bool = False) -> Path:
        """The file holding the body with ``etag`` (or its gzip copy)."""
        name = etag.strip('"')
        return self.objects / name[:2] / (name[2:] + (".gz" if gzip else ""))

    def put(self, data: bytes) -> Stored:
        """Store ``data`` and its gzip copy under its ETag (unless stored already); not yet durable, see :meth:`publish`."""
        etag = etag_of(data)
        plain, packed = self.object_path(etag), self.object_path(etag, gzip=True)
        try:
            if packed.exists() and plain.exists():
                return Stored(etag, len(data), packed.stat().st_size, False)
            plain.parent.mkdir(exist_ok=True)
            gz = compress(data)
            atomic_write(plain, data, durable=False)
            self._pause("between_bodies")
            atomic_write(packed, gz, durable=False)  # last: its presence means both are whole
        except OSError as e:
            raise SnapshotError.from_os(plain, "cannot write a body", e) from e
        return Stored(etag, len(data), len(gz), True)

    def read(self, etag: str, gzip: bool = False) -> bytes:
        path = self.object_path(etag, gzip)
        try:
            return path.read_bytes()
        except OSError as e:
            raise SnapshotError.from_os(path, "cannot read a body", e) from e

    # -- manifests ---------------------------------------------------------------------

    def publish(self, manifest: Manifest, data: bytes) -> None:
        """Make ``manifest`` (serialized as ``data``) the current snapshot: bodies durable, then manifest, then the swap."""
        path = self.manifests / manifest.name()
        try:
            self._pause("before_sync")
            sync_filesystem(self.folder)  # every body it names is on disk before anything points at it
        except OSError as e:
            # A failed flush (EIO, or ENOSPC on a thin disk) is reported once, and the bodies' bytes may never
            # reach the disk: drop the new ones so that the next publish writes them again instead of trusting them.
            self._discard(manifest)
            raise SnapshotError.from_os(getattr(e, "filename", None) or self.folder, "cannot publish", e) from e
        try:
            self._pause("before_manifest")
            atomic_write(path, data)
            self._pause("before_swap")
            atomic_symlink(f"{MANIFESTS}/{path.name}", self.folder / CURRENT)
            self._pause("after_swap")
        except OSError as e:
            raise SnapshotError.from_os(getattr(e, "filename", None) or path, "cannot publish", e) from e

    def _discard(self, manifest: Manifest) -> None:
        """Remove the bodies ``manifest`` names that no manifest on disk names (those this publish wrote)."""
        named: set[str] = set()
        try:
            names = [p.name for p in self.manifests.iterdir() if p.name.endswith(".json")]
        except OSError:
            return
        for name in names:
            try:
                named.update(item.etag for item in self.load(name).items.values())
            except SnapshotError:
                return  # unsure what is published: leave everything
        for item in manifest.items.values():
            if item.etag not in named:
                _unlink(self.object_path(item.etag, gzip=True))  # first: its presence means both are whole
                _unlink(self.object_path(item.etag))

    def current_name(self) -> str | None:
        """The file name of the current manifest (a readlink: cheap enough to poll)."""
        try:
            return os.readlink(self.folder / CURRENT).rsplit("/", 1)[-1]
        except OSError:
            return None

    def load(self, name: str, known: Manifest | None = None) -> Manifest:
        """Read the manifest ``name``; SnapshotError when it cannot be read.

        One written as a change is applied to the manifest before it: ``known`` when that is
        the one (a worker's served manifest: only the change is read), else read from here.
        """
        path = self.manifests / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise SnapshotError.from_os(path, "cannot read", e) from e

        def parent(parent_name: str) -> Manifest:
            if known is not None and known.name() == parent_name:
                return known
            return self.load(parent_name)

        try:
            return loads(raw, str(path), parent)
        except ManifestError as e:
            raise SnapshotError(path, str(e)) from e

    def load_current(self) -> Manifest | None:
        """The current manifest, or None when nothing was ever published here (or it is unreadable)."""
        name = self.current_name()
        if name is None:
            return None
        try:
            return self.load(name)
        except SnapshotError:
            return None

    def _pause(self, point: str) -> None:
        """Stop here for the crash tests: with ``FEEDS_PAUSE_AT=<point>[,<point>…]`` set, say so in a file and wait to be killed.

        The tests (tests/test_crash.py) kill -9 the builder at each point of a publish and check
        that no worker ever serves a half snapshot; with several points, the builder that takes
        over stops at the next one. Unset (always, outside those tests), this does nothing.
        """
        if point not in os.environ.get(PAUSE_VARIABLE, "").split(","):
            return
        marker = self.folder / f".paused-{point}"
        if marker.exists():
            return  # once per point: a follow-up publish in the test must go through
        marker.write_text(str(os.getpid()), encoding="ascii")
        time.sleep(120)

    # -- holding and clean-up ---------------------------------------------------------

    def hold(self, name: str) -> Held | None:
        """Hold the manifest ``name`` while serving it: the builder prunes no manifest a worker holds, nor what it names.

        A shared lock on the manifest's file, released by :meth:`Held.release` or when the process
        ends (however it ends). None: the manifest is gone, or being pruned (it is not ``current``).
        """
        try:
            fd = os.open(self.manifests / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return Held(name, fd)

    def prune(
        self,
        live: Iterable[Manifest],
        extra: Iterable[str] = (),
        keep: Callable[[str], bool] = lambda name: False,
        only: Collection[str] | None = None,
    ) -> Pruned:
        """Remove every manifest no worker holds, the objects only they named, and temporary files left behind.

        Kept: ``current``, the ``live`` manifests (the builder's own) and the files they were written
        against, any manifest ``keep(name)`` says to keep (one replaced a moment ago: a request may be
        opening its bodies) and any a worker holds (:meth:`hold`); ``extra`` are ETags of bodies the
        builder holds for its next manifest. Only the builder calls this. Never raises: a failed clean-up only costs disk space.

        No body goes while a worker holds an older manifest (``held`` says so; the builder prunes again when
        it is let go). With ``only`` (the ETags of the bodies the builder's publishes since the last prune
        dropped), only those bodies are looked at, not every file of ``objects/``: in time of the changes.
        """
        live = list(live)
        pruned = Pruned()
        try:
            names = sorted(p.name for p in self.manifests.iterdir() if p.name.endswith(".json"))
        except OSError:
            return pruned
        current = self.current_name()
        keep_names = {m.name() for m in live} | ({current} if current else set())
        claimed: dict[str, int] = {}
        try:
            for name in names:
                if name in keep_names or keep(name):
                    keep_names.add(name)
                elif (fd := _claim(self.manifests / name)) is None:
                    keep_names.add(name)
                    pruned.held += 1  # a worker still serves it: the next prune removes it
                else:
                    claimed[name] = fd  # held until the end, so no worker starts serving it meanwhile
            # A manifest written as a change needs the files of the ones before it (not their bodies): they stay while it does.
            chain: set[str] = set()
            # An older manifest still served (held for a moment after a swap, or by a stalled worker): its bodies, and
            # every other, wait for the next prune, which comes when it is let go (reading it, and the manifests it was
            # written against, would cost a pass over the whole site).
            others = sorted(keep_names - {m.name() for m in live})
            for manifest in live:
                chain.update(manifest.parents)
            for name in sorted(claimed, reverse=True):  # a manifest before those it was written against: none is left without them
                if name not in keep_names and name not in chain:
                    pruned.files += _unlink(self.manifests / name)
            if others:
                pruned.held = max(pruned.held, 1)  # (no pass over the live manifests' bodies: none goes now)
            elif only is None:
                pruned.files += self._prune_objects(_referenced(live, extra))
            elif only:
                wanted = {etag.strip('"') for etag in only}
                for etag in wanted - _referenced(live, extra, wanted):
                    pruned.files += _unlink(self.object_path(etag, gzip=True)) + _unlink(self.object_path(etag))
        finally:
            for fd in claimed.values():
                os.close(fd)
        return pruned

    def _prune_objects(self, referenced: set[str]) -> int:
        removed = 0
        cutoff = time.time() - TEMP_AGE
        for folder in (self.objects, self.manifests, self.folder):
            removed += remove_temporaries(folder, cutoff)
        try:
            shards = list(self.objects.iterdir())
        except OSError:
            return removed
        for shard in shards:
            try:
                entries = list(os.scandir(shard))
            except OSError:
                continue
            for entry in entries:
                name = shard.name + entry.name.removesuffix(".gz")
                if is_temporary(entry.name):
                    if abandoned(Path(entry.path), cutoff):
                        removed += _unlink(Path(entry.path))
                elif name not in referenced:
                    removed += _unlink(Path(entry.path))
        return removed


@dataclass
class Pruned:
    """What a prune did."""

    #: Files removed (manifests, bodies, temporary files).
    files: int = 0
    #: Older manifests kept because a worker still serves them.
    held: int = 0


class Held:
    """A worker's hold on the manifest it serves (see :meth:`Store.hold`)."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _claim(path: Path) -> int | None:
    """An exclusive lock on the manifest at ``path`` if no worker holds it (None: one does)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _referenced(live: Iterable[Manifest], extra: Iterable[str], among: set[str] | None = None) -> set[str]:
    """The ETags (unquoted) of the bodies the ``live`` manifests name, and ``extra``; with ``among``, only those among them."""
    found = {etag.strip('"') for etag in extra}
    quoted = None if among is None else {f'"{etag}"' for etag in among} | among  # (no new string per item to look it up)
    for manifest in live:
        etags = (item.etag for item in manifest.items.values())
        found.update(etag.strip('"') for etag in (etags if quoted is None else (e for e in etags if e in quoted)))
    return found


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1


def remove_temporaries(folder: Path, cutoff: float) -> int:
    """Remove the temporary files in ``folder`` (not below it) that were left behind; return how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_temporary(entry.name) and abandoned(Path(entry.path), cutoff):
            removed += _unlink(Path(entry.path))
    return removed
