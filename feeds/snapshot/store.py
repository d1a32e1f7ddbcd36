"""The snapshot folder on disk: the single source of truth every worker serves from.

Layout of ``snapshot_dir``::

    current -> manifests/00000042-<version>.json   the published snapshot (a symlink, swapped in one rename)
    manifests/                                      this host's recent manifests
    objects/ab/cdef…  objects/ab/cdef….gz           bodies named by their ETag (content-addressed)
    state/                                          the builder's memory across restarts (content index)
    render/                                         rendered post HTML (a cache keyed by source)

Objects are written before the manifest that names them, and the manifest
before ``current`` points at it; each step is atomic, so a crash at any point
leaves the previous snapshot whole. A publish writes only objects whose bytes
are new (an edit to one post writes the few documents it changed) and one
manifest. Leftovers of a failed or killed publish (temporary files, objects no
manifest names) are removed by the next successful publish.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

from feeds.fsutil import atomic_symlink, atomic_write, is_temporary, sync_filesystem
from feeds.snapshot.errors import ManifestError, SnapshotError
from feeds.snapshot.manifest import Manifest, loads

CURRENT = "current"
MANIFESTS = "manifests"
OBJECTS = "objects"
#: The crash tests' hook (see Store._pause).
PAUSE_VARIABLE = "FEEDS_PAUSE_AT"
#: Manifests kept besides the current one (a follower may still be reading an older one).
KEEP_MANIFESTS = 3
#: This process's own temporary files are removed only once they are this old (seconds): it may be writing them.
TEMP_AGE = 300.0
#: igzip level 3: about 15× faster than zlib level 6 on our feeds for ~6% more bytes (a cold 10k-post build gzips ~1 GB).
GZIP_LEVEL = 3


def etag_of(data: bytes) -> str:
    """Return the strong ETag of ``data``: the quoted first 32 hex digits of its SHA-256."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def compress(data: bytes) -> bytes:
    """Gzip ``data`` the same way every time (mtime 0, no file name)."""
    return igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(frozen=True)
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

    def load(self, name: str) -> Manifest:
        """Read the manifest ``name``; SnapshotError when it cannot be read."""
        path = self.manifests / name
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise SnapshotError.from_os(path, "cannot read", e) from e
        try:
            return loads(raw, str(path))
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

    # -- clean-up ----------------------------------------------------------------------

    def prune(self, live: Iterable[Manifest], extra: Iterable[str] = ()) -> int:
        """Remove old manifests, objects no kept manifest names, and temporary files; return the files removed.

        ``live`` are manifests that must stay readable besides the last
        KEEP_MANIFESTS (the builder's own), ``extra`` the ETags of bodies it holds
        for the next manifest (rendered on demand). Only the builder calls this.
        Never raises: a failed clean-up only costs disk space.
        """
        live = list(live)
        removed = 0
        try:
            names = sorted((p.name for p in self.manifests.iterdir() if p.name.endswith(".json")), reverse=True)
        except OSError:
            return 0
        keep = set(names[:KEEP_MANIFESTS]) | {m.name() for m in live}
        if (current := self.current_name()) is not None:
            keep.add(current)
        referenced = {etag.strip('"') for etag in extra}
        for manifest in live:
            referenced.update(item.etag.strip('"') for item in manifest.items.values())
        for name in keep - {m.name() for m in live}:
            try:
                referenced.update(item.etag.strip('"') for item in self.load(name).items.values())
            except SnapshotError:
                continue
        for name in names:
            if name not in keep:
                removed += _unlink(self.manifests / name)
        cutoff = time.time() - TEMP_AGE
        for folder in (self.objects, self.manifests, self.folder):
            removed += _remove_temporaries(folder, cutoff)
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
                    if _abandoned(entry, cutoff):
                        removed += _unlink(Path(entry.path))
                elif name not in referenced:
                    removed += _unlink(Path(entry.path))
        return removed


def _abandoned(entry: os.DirEntry[str], cutoff: float) -> bool:
    """A temporary file of another process (a killed publish), or an old one of this process."""
    if not entry.name.endswith(f".{os.getpid()}") and f".{os.getpid()}." not in entry.name:
        return True
    try:
        return entry.stat(follow_symlinks=False).st_mtime < cutoff
    except OSError:
        return False


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1


def _remove_temporaries(folder: Path, cutoff: float) -> int:
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_temporary(entry.name) and _abandoned(entry, cutoff):
            removed += _unlink(Path(entry.path))
    return removed
