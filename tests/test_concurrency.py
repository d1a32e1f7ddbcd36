"""A flood of requests during snapshot swaps: every 200's ETag matches the body it came with."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import shutil
import threading
from collections import Counter
from pathlib import Path

from .conftest import SITE_CONFIG
from .corpus import SAMPLE
from .server import ServerProcess

TOKEN = "concurrency-token"
PATHS = ("/feed.xml", "/atom.xml", "/feed.json", "/tags/idempotency/feed.xml", "/")
POST = "2026-05-02-three-layers-of-idempotency.md"
SWAPS = 12


def expected_etag(body: bytes, gzipped: bool) -> str:
    """The ETag contract of feeds/snapshot.py: sha256 of the identity body; the gzip variant ends -gz."""
    digest = hashlib.sha256(gzip.decompress(body) if gzipped else body).hexdigest()[:32]
    return f'"{digest}-gz"' if gzipped else f'"{digest}"'


def test_every_200_etag_matches_its_body_while_snapshots_swap(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    # The scheduler swaps too; this is one client hammering the same feeds, so no poll limit.
    env = {"FEEDS_REBUILD_TOKEN": TOKEN, "FEEDS_SCAN_INTERVAL": "1", "FEEDS_POLL_LIMIT": "0"}
    with ServerProcess(tmp_path / "content", tmp_path / "feeds.toml", env=env) as server:
        stop = threading.Event()
        statuses: Counter[int] = Counter()
        etags: dict[str, set[str]] = {path: set() for path in PATHS}
        mismatches: list[str] = []
        lock = threading.Lock()

        def hammer(worker: int) -> None:
            number = 0
            previous: dict[str, str] = {}
            while not stop.is_set():
                path = PATHS[(worker + number) % len(PATHS)]
                gzipped = number % 2 == 0
                headers = {"Accept-Encoding": "gzip" if gzipped else "identity"}
                if path in previous and number % 3 == 0:
                    headers["If-None-Match"] = previous[path]
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                try:
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                finally:
                    connection.close()
                with lock:
                    statuses[response.status] += 1
                if response.status == 200:
                    etag = response.getheader("ETag") or ""
                    is_gzip = response.getheader("Content-Encoding") == "gzip"
                    if etag != expected_etag(body, is_gzip):
                        mismatches.append(f"{path} gzip={is_gzip}: {etag}")
                    with lock:
                        etags[path].add(etag.removesuffix('-gz"').strip('"'))
                    previous[path] = etag
                number += 1

        threads = [threading.Thread(target=hammer, args=(worker,)) for worker in range(6)]
        for thread in threads:
            thread.start()
        try:
            source = tmp_path / "content" / POST
            original = source.read_text(encoding="utf-8")
            versions = set()
            for swap in range(SWAPS):
                # Change the post (title and body), then force the swap at once.
                edited = original.replace("Three Layers", f"Three Layers (edit {swap})", 1) + f"\nEdit {swap}.\n"
                source.write_text(edited, encoding="utf-8")
                # 202: a run is under way and one more is queued; the next 200 comes after both.
                versions.add(json.loads(server.rebuild(TOKEN).body)["version"])
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)

    assert not mismatches, mismatches[:5]
    assert set(statuses) <= {200, 304}, statuses
    assert statuses[200] > 30  # the hammers ran all along (how many depends on the machine's load)
    assert len(versions) >= SWAPS // 2  # the snapshot really was swapped under the load
    assert len(etags["/feed.xml"]) >= 3 and len(etags["/tags/idempotency/feed.xml"]) >= 3
