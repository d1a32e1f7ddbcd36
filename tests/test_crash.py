"""kill -9 of the builder at every point of a publish: no worker ever serves a half snapshot.

Real gunicorn with three workers. Each pause point of ``Store.publish``
(``FEEDS_PAUSE_AT``) is armed in turn by removing its marker file; an edit makes
the builder stop there, and the test kills it with SIGKILL (the helper process
that paused too, when it was one). Meanwhile pollers hammer the feeds: every
200's ETag must be the SHA-256 of its body, every body must be the document of
one published version (the one whose edit it shows), and no worker may go back
to an older version. After each kill another worker takes over and publishes
the edit; at the end no temporary file or unnamed body is left.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feeds.fsutil import is_temporary
from feeds.snapshot.errors import SnapshotError
from feeds.snapshot.manifest import Manifest
from feeds.snapshot.store import Store

from .test_faults import every_worker
from .test_gunicorn import Gunicorn, _site, _until
from .waiting import wait_until

WORKERS = 3
POINTS = ("between_bodies", "before_sync", "before_manifest", "before_swap", "after_swap")
POST = "2026-05-02-three-layers-of-idempotency.md"
TITLE = "Three Layers of Idempotency"
#: Documents that show the post (their bytes change at each edit), and one that does not.
SHOWING = ("/feed.xml", "/atom.xml", "/feed.json", "/tags/idempotency/feed.xml", "/tags/go/atom.xml", "/")
STABLE = "/tags/aws/feed.xml"
_EDIT = re.compile(re.escape(TITLE) + r" \(edit (\d+)\)")


@dataclass(frozen=True)
class Seen:
    """One answer a poller got."""

    #: When the request was sent and its answer read (monotonic): a poller thread may record it later.
    sent: float
    done: float
    worker: int
    path: str
    etag: str
    #: The edit the body shows (0: the original), None for STABLE.
    edit: int | None


class Pollers:
    """Threads requesting the feeds round-robin until stopped (the first asks for gzip); they check each answer and keep what they saw."""

    def __init__(self, server: Gunicorn, threads: int = 3) -> None:
        self.server = server
        self.seen: list[Seen] = []
        self.errors: list[str] = []
        self.dropped = 0  # connections cut by a kill: not an answer
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Pollers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _poll(self, offset: int) -> None:
        paths = (*SHOWING, STABLE)
        i = offset
        while not self._stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            try:
                sent = time.monotonic()
                connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                connection.request("GET", path, headers={"Accept-Encoding": "gzip"} if offset == 0 else {})
                response = connection.getresponse()
                body = response.read()
                done = time.monotonic()
                headers = {k.lower(): v for k, v in response.getheaders()}
                connection.close()
            except (ConnectionError, http.client.HTTPException, TimeoutError):
                self.dropped += 1
                continue
            self._check(path, response.status, headers, body, sent, done)

    def _check(self, path: str, status: int, headers: dict[str, str], body: bytes, sent: float, done: float) -> None:
        if status != 200:
            self.errors.append(f"{path}: {status} {body[:200]!r}")
            return
        etag = headers["etag"]
        if headers.get("content-encoding") == "gzip":  # the .gz body: written last, so present only when both are whole
            body, etag = gzip.decompress(body), etag.replace('-gz"', '"')
        if etag != '"' + hashlib.sha256(body).hexdigest()[:32] + '"':
            self.errors.append(f"{path}: ETag {etag} is not the hash of the {len(body)} bytes served")
        edit = None
        if path != STABLE:
            edits = {int(number) for number in _EDIT.findall(body.decode())} or {0}  # 0: the original title
            if len(edits) != 1:
                self.errors.append(f"{path}: shows edits {sorted(edits)} at once")
                return
            (edit,) = edits
        self.seen.append(Seen(sent, done, int(headers["x-feeds-worker"]), path, etag, edit))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Gunicorn]:
    root = _site(tmp_path / "site")
    snapshot = root / "snapshot"
    snapshot.mkdir(mode=0o755)
    for point in POINTS:  # disarmed: the first build must not stop
        (snapshot / f".paused-{point}").write_text("0")
    env = {"FEEDS_SNAPSHOT_DIR": str(snapshot), "FEEDS_PAUSE_AT": ",".join(POINTS), "FEEDS_POLL_LIMIT": "0"}
    server = Gunicorn(root, env=env, workers=WORKERS)
    try:
        server.start_all()
        yield server
    finally:
        server.stop()
        for pid in _family(server.process.pid):  # a paused helper the test did not get to
            _kill(pid)


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _family(root: int) -> set[int]:
    """The live descendants of ``root`` (gunicorn workers, the builder's fork server and helper processes)."""
    parents = {int(p.parent.name): _ppid(int(p.parent.name)) for p in Path("/proc").glob("[0-9]*/stat")}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _worker_of(server: Gunicorn, pid: int) -> int:
    """The gunicorn worker that is ``pid`` or an ancestor of it (a helper process pauses in ``between_bodies``)."""
    chain = pid
    while (parent := _ppid(chain)) not in (server.process.pid, None, 0, 1):
        chain = parent
    assert parent == server.process.pid, f"{pid} is not a gunicorn worker's process"
    return chain


def _edit(server: Gunicorn, number: int) -> None:
    post = server.log.parent / "content" / POST
    post.write_text(re.sub(r'title: "[^"]*"', f'title: "{TITLE} (edit {number})"', post.read_text(), count=1))


def _paused(marker: Path) -> int:
    """Wait until the builder stopped at ``marker``'s point; return the pid that wrote it."""
    _until(lambda: marker.exists() and marker.read_text().isdigit(), timeout=30)
    return int(marker.read_text())


def _serving_everywhere(server: Gunicorn, number: int) -> bool:
    return all(f"{TITLE} (edit {number})" in r.body.decode() for r in every_worker(server, "/feed.xml").values())


def _leftovers(snapshot: Path) -> list[str]:
    """Temporary files, and bodies no manifest on disk names."""
    store = Store(snapshot)
    named: set[str] = set()
    unreadable: list[str] = []
    for path in store.manifests.glob("*.json"):
        try:
            named.update(item.etag.strip('"') for item in store.load(path.name).items.values())
        except SnapshotError:  # pruned as it was read (or the one it was written against was): left over until it is gone
            unreadable.append(path.name)
    bodies = {p.parent.name + p.name.removesuffix(".gz") for p in store.objects.glob("*/*")}
    return unreadable + [p.name for p in snapshot.rglob("*") if is_temporary(p.name)] + sorted(bodies - named)


def _current(snapshot: Path) -> Manifest:
    manifest = Store(snapshot).load_current()  # (a manifest written as a change is read with those it was written against)
    assert manifest is not None
    return manifest


def test_kill_9_of_the_builder_at_each_point_of_a_publish_never_serves_a_half_snapshot(cluster: Gunicorn) -> None:
    snapshot = cluster.log.parent / "snapshot"
    versions = {0: _current(snapshot)}
    killed: list[int] = []
    with Pollers(cluster) as pollers:
        for number, point in enumerate(POINTS, start=1):
            marker = snapshot / f".paused-{point}"
            marker.unlink()  # armed: the next publish stops there
            _edit(cluster, number)
            paused = _paused(marker)
            builder = _worker_of(cluster, paused)
            family = _family(builder)  # its fork server and helper processes (one of them may be the one paused)
            for pid in (builder, *family):
                _kill(pid)
            killed.append(builder)

            # Another worker takes over the lock and publishes the edit (or adopts it: killed after the swap).
            _until(lambda n=number: _serving_everywhere(cluster, n), timeout=30)
            _until(lambda: cluster.health()["builder_pid"] not in (None, *killed), timeout=30)
            versions[number] = _current(snapshot)

        _edit(cluster, len(POINTS) + 1)  # nothing armed: the next publish goes through at once
        _until(lambda: _serving_everywhere(cluster, len(POINTS) + 1), timeout=30)
        versions[len(POINTS) + 1] = _current(snapshot)
        # The pollers have seen the last edit from every worker, on every path: what they check covers it too.
        last = len(POINTS) + 1
        _until(lambda: {(s.worker, s.path) for s in pollers.seen if s.edit == last} >= {(w, p) for w in cluster.workers() for p in SHOWING})

    assert not pollers.errors, pollers.errors[:10]
    assert len(pollers.seen) > 200 and pollers.dropped <= 6 * len(POINTS), (len(pollers.seen), pollers.dropped)
    # Every body served is the very document of the version whose edit it shows.
    for seen in pollers.seen:
        if seen.edit is not None:
            assert versions[seen.edit].items[seen.path].etag == seen.etag, seen
        else:
            assert seen.etag == versions[0].items[STABLE].etag, seen
    # No worker ever went back to an older version: an answer asked for after another was read shows no older edit.
    for worker in {s.worker for s in pollers.seen}:
        answers = sorted((s for s in pollers.seen if s.worker == worker and s.edit is not None), key=lambda s: s.done)
        for later in answers:
            before = [s for s in answers if s.done < later.sent]
            newest = max(before, key=lambda s: s.edit or 0, default=None)
            assert newest is None or (later.edit or 0) >= (newest.edit or 0), (worker, newest, later)
    # One publish per edit, each by a builder that was not killed; no temporary file or unnamed body left.
    publishers = {int(line.split(" pid=")[1].split()[0]) for line in cluster.events("publish")}
    assert publishers - set(killed), publishers
    # (The builder prunes a moment after the last swap, once the other workers let go of what they served before.)
    wait_until(lambda: not _leftovers(snapshot), 15.0, "the leftovers pruned", detail=lambda: str(_leftovers(snapshot)[:5]))
    for item in _current(snapshot).items.values():  # the published snapshot is whole
        data = (snapshot / "objects" / item.etag[1:3] / item.etag[3:-1]).read_bytes()
        assert hashlib.sha256(data).hexdigest()[:32] == item.etag.strip('"'), item.path
