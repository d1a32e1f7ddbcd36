"""Publish benchmark: an N-post site to a local S3-compatible bucket, from scratch, unchanged and after one edit.

Needs the test extra for SeaweedFS::

    python -m bench publish                 # N = 10,000 (two `feeds build` runs of the whole site first)
    python -m bench publish 1000 --workers 4

The generated site (``bench/.work/site-N``) is exported with ``feeds build --out`` (the
bytes the service serves), then edited once (one post's body, in the middle of
the site, as ``bench build`` does) and exported again. Both exports are kept
in ``bench/.work/publish-<N>/`` for the next run. SeaweedFS (``weed server``
with its S3 gateway) runs on 127.0.0.1 with a fresh data folder; boto3 talks to
it over HTTP, so the times are CPU-bound on this machine, where a real bucket is
bound by the network instead: read the object and byte counts as the result.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import SITE_URL, WORK, header, site
from feeds.service.publish import Item, PublishReport, Target, publish
from tests.s3server import ExportView, SeaweedFS


def cache_control(item: Item) -> str:
    return "public, max-age=3600"


def export(content: Path, config: Path, out: Path, work: Path) -> tuple[ExportView, float]:
    """Return the export of ``content`` in ``out``, building it unless an earlier run did.

    Both exports build in one snapshot folder, as a host's edits do: a document whose bytes
    did not change keeps its Last-Modified, so it is not uploaded again.
    """
    if (out / "manifest.json").exists() and (out / ".complete").exists():
        return ExportView(out), 0.0
    started = time.perf_counter()
    command = [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(content), "--config", str(config)]
    env = {**os.environ, "FEEDS_SNAPSHOT_DIR": str(work / "snapshot")}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    (out / ".complete").touch()
    return ExportView(out), time.perf_counter() - started


def prepare(n: int) -> tuple[ExportView, ExportView]:
    s = site(n)
    work = WORK / f"publish-{n}"
    edited = work / "content-edited"
    if not (edited / ".complete").exists():
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(s.content, edited, copy_function=os.link)  # hard links: only the edited post is a new file
        post = edited / s.edited.relative_to(s.content)
        text = post.read_text(encoding="utf-8")
        post.unlink()
        post.write_text(text + "\nOne more paragraph, added in an edit.\n", encoding="utf-8")
        (edited / ".complete").touch()
    base, seconds = export(s.content, s.config, work / "out-base", work)
    print(f"export of {n} posts: {len(base.items)} documents" + (f", built in {seconds:.0f} s" if seconds else " (from an earlier run)"))
    after, seconds = export(edited, s.config, work / "out-edited", work)
    print("export after one edit" + (f": built in {seconds:.0f} s" if seconds else " (from an earlier run)"))
    return base, after


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="posts (default 10000)")
    parser.add_argument("--workers", type=int, default=8, help="upload threads (default 8)")


def run(args: argparse.Namespace) -> None:
    base, edited = prepare(args.n)
    rows: list[tuple[str, PublishReport]] = []
    with SeaweedFS("feeds-bench", volume_size_mb=256, max_volumes=16) as s3:
        client = s3.client(max_pool_connections=args.workers, read_timeout=60)
        target = Target(s3.bucket, "site/")

        def once(label: str, view: ExportView) -> None:
            report = publish(view, target, site_url=SITE_URL, cache_control=cache_control, client=client, workers=args.workers)
            rows.append((label, report))
            print(f"  {label}: {report.seconds:.1f} s", flush=True)

        once("from scratch", base)
        once("again, no change", base)
        once("after one edit", edited)
    print(header("publish", f"{args.n} posts, {len(base.items)} documents", f"{args.workers} upload threads"))
    print("| publish | seconds | objects uploaded | MB uploaded | objects skipped | deleted | manifest KB | changed URLs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows:
        print(
            f"| {label} | {r.seconds:.1f} | {r.uploaded:,} | {r.uploaded_bytes / 1e6:,.1f} | {r.skipped:,} | {r.deleted} "
            f"| {r.manifest_bytes / 1e3:,.0f} | {len(r.changed_urls)} |"
        )
