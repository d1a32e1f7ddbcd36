"""One builder per host: the worker holding a file lock builds and publishes; every other worker follows.

The builder writes each new snapshot as the files ``feeds build`` exports (plus
``manifest.json``) into a fresh folder of ``snapshot_dir`` and then swaps the
``current`` symlink to it in one ``rename``; a worker sees a new target within
one poll (``POLL`` seconds) and loads it into memory, reusing every body whose
ETag did not change. The lock is an ``fcntl.flock`` on ``snapshot_dir/builder.lock``:
the kernel releases it when its holder exits, and the next worker to poll takes
over without rebuilding when the files still match the published snapshot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from feeds import log
from feeds.config import Config
from feeds.errors import ConfigError, ContentRootError
from feeds.service.builder import Builder
from feeds.snapshot import export
from feeds.snapshot.build import Snapshot, SnapshotStore

LOCK = "builder.lock"
CURRENT = "current"
STATUS = "status.json"
REQUEST = "rebuild-request"
SOURCES = "sources.json"
#: Seconds between a follower's checks of ``current``; the swap reaches every worker within about this.
POLL = 0.2
#: How long a starting worker waits for the host's first snapshot before it serves (503s) anyway;
#: below gunicorn's default 30 s worker timeout, which also runs while a worker boots.
FIRST_WAIT = 20.0
#: Settings that change no byte of a snapshot (so a restart with a new value keeps it).
_RUNTIME_ONLY = frozenset({"scan_interval", "log_format", "snapshot_dir", "worker_header", "rebuild_token", "cache_dir"})


def config_digest(config: Config) -> str:
    """Hash the settings that shape the snapshot's bytes (secrets are never part of it)."""
    values = {k: v for k, v in config.summary().items() if k not in _RUNTIME_ONLY}
    values["content_dir"] = str(config.content_dir.resolve())
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Hash this package's code and templates: new code must rebuild, not adopt an old snapshot."""
    root = Path(__file__).parent.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".pyc",)):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def default_dir(config: Config) -> Path:
    """Return the automatic snapshot folder: private to this user, keyed by content folder and settings."""
    return Path(tempfile.gettempdir()) / f"feeds-{os.getuid()}-{config_digest(config)[:16]}"


def prepare_dir(config: Config) -> Path:
    """Create (or check) the snapshot folder; a folder another user could write is a ConfigError."""
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


@dataclass
class SharedBuilder(Builder):
    """A Builder that builds only in the leader; in a follower ``rescan`` asks the leader."""

    shared: Shared | None = None
    _primed: bool = field(default=False, init=False)
    #: The schedule and a rebuild request may both arrive first; one of them decides about adopting.
    _first: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def rescan(self, force: bool = False) -> bool:
        shared = self.shared
        if shared is None:
            return super().rescan(force)
        if not shared.is_leader:
            return shared.request_rescan(force)
        started = time.time()
        try:
            if not self._primed:
                with self._first:
                    if not self._primed:
                        return self._first_rescan()
            return super().rescan(force)
        finally:
            shared.write_status(started)

    def _first_rescan(self) -> bool:
        """Read every file once; adopt the published snapshot if it was built from exactly these files."""
        assert self.shared is not None
        if self.store.current is None or self.shared.loaded_fingerprint is None:
            self._primed = True
            return super().rescan(force=True)  # nothing to adopt: an ordinary first build
        with self._lock:
            try:
                self._index.scan()
                self._primed = True
            except ContentRootError:
                pass
            else:
                if self.store.current is not None and self.shared.loaded_fingerprint == self.shared.fingerprint(self):
                    self.store.last_scan = self.clock()
                    self.store.error = None
                    log.event("adopt", version=self.store.current.version, posts=self.store.current.post_count)
                    return False
        if not self._primed:
            return super().rescan()  # logs scan_failed and keeps serving what is loaded
        # The index has read every file, so only force makes it rebuild from them.
        return super().rescan(force=True)


@dataclass
class Shared:
    """This worker's side of the host's one-builder arrangement."""

    config: Config
    store: SnapshotStore
    builder: SharedBuilder
    #: Called once when this worker becomes the builder (starts the scan schedule).
    on_leader: Callable[[], None]
    folder: Path = field(init=False)
    is_leader: bool = field(default=False, init=False)
    #: Name of the folder under ``folder`` that the store serves, and the source fingerprint it was built from.
    loaded: str | None = field(default=None, init=False)
    loaded_fingerprint: str | None = field(default=None, init=False)
    builder_pid: int | None = field(default=None, init=False)
    #: When this worker began serving its current snapshot (for /healthz: how fast a swap spreads).
    served_since: datetime | None = field(default=None, init=False)
    _lock_fd: int = field(default=-1, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    #: A published folder this worker could not load, and why (it keeps serving what it has).
    _failed: str | None = field(default=None, init=False)
    _failed_reason: str | None = field(default=None, init=False)
    _status_stamp: tuple[int, int] | None = field(default=None, init=False)
    _request_stamp: tuple[int, int] | None = field(default=None, init=False)
    _follow_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.folder = prepare_dir(self.config)
        self.builder.shared = self
        code_digest()  # of the code this worker runs, before a deploy may replace the files

    def start(self) -> None:
        """Serve what is published, become the builder if nobody is, and follow changes in a daemon thread."""
        self._lock_fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._follow()
        self._read_status()
        self._try_lead()
        self._wait_for_first(FIRST_WAIT)
        self._thread = threading.Thread(target=self._run, name="feeds-shared", daemon=True)
        self._thread.start()

    def _wait_for_first(self, timeout: float) -> None:
        """On a host's first start, hold this worker back until the first snapshot is published.

        A worker accepts requests only once the app is loaded, so no worker answers
        503 while another already serves feeds.
        """
        deadline = time.monotonic() + timeout
        while self.store.current is None or (self.is_leader and self.loaded is None):
            if time.monotonic() >= deadline:
                log.event("first_snapshot_late", logging.WARNING, seconds=timeout, role="builder" if self.is_leader else "follower")
                return
            time.sleep(0.05)
            if not self.is_leader:
                self._follow()
                self._try_lead()

    def stop(self) -> None:
        """Stop following; a builder waits (up to 10 s) for a rebuild in progress, then hands the lock on."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if self._lock_fd >= 0:
            held = self.builder._lock.acquire(timeout=10)
            try:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1
                self.is_leader = False
            finally:
                if held:
                    self.builder._lock.release()

    def poll(self) -> None:
        """Do one watcher step: take over a free lock, load a new snapshot, answer rebuild requests."""
        if self._stop.is_set():
            return
        if not self.is_leader:
            self._follow()
            self._read_status()
            self._try_lead()
        else:
            self._answer_requests()

    def _run(self) -> None:
        while not self._stop.wait(POLL):
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad step
                logging.getLogger("feeds").exception("snapshot watcher step failed")

    # -- the builder ---------------------------------------------------------------

    def _try_lead(self) -> bool:
        if self.is_leader or self._lock_fd < 0:
            return self.is_leader
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._follow()  # serve the newest published snapshot before deciding to rebuild
        self.is_leader = True
        self.builder_pid = os.getpid()
        self._request_stamp = _stamp(self.folder / REQUEST)  # the first scan (run at once) answers older requests
        self.builder.listeners.insert(0, self.publish)  # on disk before any other listener (WebSub) announces it
        log.event("builder", role="leader", pid=os.getpid(), snapshot_dir=str(self.folder), serving=self.loaded or "none")
        self.on_leader()
        return True

    def fingerprint(self, builder: Builder) -> str:
        """Hash what a snapshot is built from: every file stamp the index read, the settings and the code."""
        digest = hashlib.sha256(f"{config_digest(self.config)}\n{code_digest()}\n".encode())
        for rel, stamp in sorted(builder._index.stamps().items()):
            digest.update(f"{rel}\0{stamp}\n".encode())
        return digest.hexdigest()

    def publish(self, old: Snapshot | None, new: Snapshot) -> None:
        """Write ``new`` into a fresh folder and point ``current`` at it (a swap listener of the builder)."""
        started = time.perf_counter()
        previous = self._target()
        folder = Path(tempfile.mkdtemp(prefix=f"snapshot-{new.version}-", dir=self.folder))
        try:
            fingerprint = self.fingerprint(self.builder)
            written = export.write_tree(new, folder, self.folder / previous if previous else None)
            (folder / SOURCES).write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
            os.chmod(folder, 0o755)  # readable by a web server serving snapshot_dir/current
            link = self.folder / f".current-{os.getpid()}"
            link.unlink(missing_ok=True)
            os.symlink(folder.name, link)
            os.replace(link, self.folder / CURRENT)
        except OSError as e:
            shutil.rmtree(folder, ignore_errors=True)
            # A set error makes the next scan rebuild, so publishing is retried.
            self.store.error = f"publish to {self.folder} failed: {e}"
            log.event("publish_failed", logging.ERROR, version=new.version, error=str(e))
            return
        self.loaded, self.loaded_fingerprint = folder.name, fingerprint
        self.served_since = datetime.now(UTC)
        self._prune(keep={folder.name, previous or ""})
        log.event(
            "publish",
            version=new.version,
            folder=folder.name,
            files_written=written.written,
            files_linked=written.linked,
            seconds=f"{time.perf_counter() - started:.3f}",
        )

    def write_status(self, started: float) -> None:
        """Record the last scan for followers' /healthz: when it started and finished, and any error."""
        status = {
            "pid": os.getpid(),
            "scan_started": started,
            "last_scan": self.store.last_scan.isoformat() if self.store.last_scan else None,
            "error": self.store.error,
            "version": self.store.current.version if self.store.current else None,
        }
        try:
            _write_atomically(self.folder / STATUS, json.dumps(status) + "\n")
        except OSError as e:  # followers then report a stale builder on /healthz
            log.event("status_failed", logging.ERROR, error=str(e))

    def _answer_requests(self) -> None:
        stamp = _stamp(self.folder / REQUEST)
        if stamp is not None and stamp != self._request_stamp:
            self._request_stamp = stamp
            try:
                force = bool(json.loads((self.folder / REQUEST).read_text()).get("force"))
            except (OSError, ValueError):
                force = False
            self.builder.rescan(force)

    def _prune(self, keep: set[str]) -> None:
        # The previous folder stays: a follower may still be loading it.
        for entry in self.folder.iterdir():
            if entry.name.startswith("snapshot-") and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    # -- the followers -------------------------------------------------------------

    def request_rescan(self, force: bool = False, timeout: float = 20.0) -> bool:
        """Ask the builder to scan now and wait for that scan; return whether the served snapshot changed."""
        before = self.store.current.version if self.store.current else None
        asked = time.time()
        _write_atomically(self.folder / REQUEST, json.dumps({"at": asked, "force": force, "pid": os.getpid()}) + "\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = _read_json(self.folder / STATUS)
            if status is not None and float(status.get("scan_started", 0)) >= asked:
                self._follow()
                self._read_status()
                return (self.store.current.version if self.store.current else None) != before
            time.sleep(0.05)
        log.event("rebuild_request_timeout", logging.WARNING, seconds=timeout)
        return False

    def _target(self) -> str | None:
        try:
            return os.readlink(self.folder / CURRENT)
        except OSError:
            return None

    def _follow(self) -> None:
        with self._follow_lock:
            self._follow_locked()

    def _follow_locked(self) -> None:
        target = self._target()
        if target is None or target == self.loaded or target == self._failed:
            return
        started = time.perf_counter()
        try:
            snapshot = export.read(self.folder / target, self.store.current)
        except export.ExportError as e:
            if self._target() == target:  # not merely pruned under us: say so once
                self._failed, self._failed_reason = target, str(e)
                log.event("load_failed", logging.ERROR, folder=target, error=str(e))
            return
        sources = _read_json(self.folder / target / SOURCES) or {}
        self.store.swap(snapshot)
        self._failed = self._failed_reason = None
        self.served_since = datetime.now(UTC)
        self.loaded, self.loaded_fingerprint = target, sources.get("fingerprint")
        log.event("load", version=snapshot.version, folder=target, seconds=f"{time.perf_counter() - started:.3f}")

    def _read_status(self) -> None:
        stamp = _stamp(self.folder / STATUS)
        if stamp is None or stamp == self._status_stamp:
            return
        status = _read_json(self.folder / STATUS)
        if status is None:
            return
        self._status_stamp = stamp
        self.builder_pid = status.get("pid")
        last_scan = status.get("last_scan")
        self.store.last_scan = datetime.fromisoformat(last_scan) if last_scan else None
        self.store.error = status.get("error")

    def health(self) -> dict[str, Any]:
        """Fields /healthz adds in shared mode."""
        return {
            "role": "builder" if self.is_leader else "follower",
            "builder_pid": self.builder_pid,
            "snapshot_dir": str(self.folder),
            "served_since": self.served_since.isoformat() if self.served_since else None,
        }

    def trouble(self, now: datetime) -> str | None:
        """Why this worker may serve an outdated snapshot: a folder it cannot load, or a builder that stopped scanning."""
        if self._failed_reason is not None:
            return f"cannot load the published snapshot: {self._failed_reason}"
        last = self.store.last_scan
        if last is None or (now - last).total_seconds() > 3 * self.config.scan_interval + 10:
            return "the builder has not scanned for three scan intervals"
        return None


def _stamp(path: Path) -> tuple[int, int] | None:
    # Every write replaces the file, so the inode changes even within one mtime tick.
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}-{os.getpid()}-{threading.get_ident()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)

