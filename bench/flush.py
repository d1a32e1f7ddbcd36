"""What one worker's write of its subscriber counts costs: one flush of N distinct readers, on SQLite and PostgreSQL.

    python -m bench flush [N ...]        # default: 100 1000 10000 19999 (a full tally)

Each flush is what ``SubscriberCounter.flush`` does: classify the User-Agents, resolve the clients, hash the
readers with the day's secret and write them (upserts) in one transaction, here into a database that already
holds the same readers (the steady state: a reader polls all day). PostgreSQL is a private cluster started as
the tests start it (tests/postgres.py); without its binaries only SQLite is measured. Prints CPU and wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from feeds.config import load_config
from feeds.service.database import DatabaseService
from feeds.service.subscribers import SubscriberCounter

AGENTS = [
    "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    "Miniflux/2.1 (+https://miniflux.app)",
    "Tiny Tiny RSS/23.04 (https://tt-rss.org/)",
]


def measure(url: str, folder: Path, readers: int, rounds: int = 5) -> tuple[float, float]:
    config = load_config(env={}, overrides={"content_dir": str(folder), "database_url": url})
    database = DatabaseService(config, folder).start()
    database.wait(60)
    counter = SubscriberCounter(config, database)
    walls, cpus = [], []
    for _ in range(rounds + 1):
        for i in range(readers):
            address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            counter.tally.add(("/feed.xml" if i % 3 else "/tags/go/atom.xml", AGENTS[i % 3], "127.0.0.1", address, True))
        counter.tally.add(
            ("/feed.xml", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 42 subscribers; )", "127.0.0.1", "203.0.113.1", True)
        )
        wall, cpu = time.perf_counter(), time.process_time()
        written = counter.flush(final=True)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert written == readers + 1, written
    database.stop()
    return statistics.median(walls[1:]), statistics.median(cpus[1:])  # the first writes new rows; the rest update them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 10000, 19999], help="readers per flush")


def run(args: argparse.Namespace) -> None:
    sizes: list[int] = args.sizes
    urls: list[tuple[str, str]] = []
    scratch = Path(tempfile.mkdtemp(prefix="feeds-flush-"))
    from tests import postgres

    cluster = None
    if postgres.find_bindir() is not None:
        cluster = postgres.PostgresCluster(postgres.find_bindir())
    print("| database | readers | flush wall ms | flush CPU ms | CPU µs per reader |")
    print("|---|---|---|---|---|")
    try:
        for size in sizes:
            urls = [("SQLite", f"sqlite:///{scratch}/flush-{size}.db")]
            if cluster is not None:
                urls.append(("PostgreSQL", cluster.create_database("flush")))
            for name, url in urls:
                wall, cpu = measure(url, scratch, size)
                print(f"| {name} | {size:,} | {wall * 1000:.1f} | {cpu * 1000:.1f} | {cpu * 1e6 / size:.0f} |", flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
