"""Publish benchmark: an N-post site to a local S3-compatible bucket, from scratch, unchanged and after one edit.

Run by hand, never in ``make test`` (needs the test extra for SeaweedFS)::

    python bench/publish.py                 # N = 10,000 (two `feeds build` runs of the whole site first)
    python bench/publish.py 1000 --workers 4

The site is ``bench/gen_site.py``'s, exported with ``feeds build --out`` (the
bytes the service serves), then edited once (one post's body, in the middle of
the site, as ``bench/build.py`` does) and exported again. Both exports are kept
in ``bench/.work/publish-<N>/`` for the next run. SeaweedFS (``weed server``
with its S3 gateway) runs on 127.0.0.1 with a fresh data folder; boto3 talks to
it over HTTP, so the times are CPU-bound on this machine, where a real bucket is
bound by the network instead: read the object and byte counts as the result.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.service.publish import Item, PublishReport, Target, publish  # noqa: E402
from tests.s3server import ExportView, SeaweedFS  # noqa: E402

SITE = "https://bench.example.org"
EDITED = 0.5  # which post is edited, as a fraction of N (as in bench/build.py)
CONFIG = """\
site_url = "https://bench.example.org"
title = "Bench"
description = "A synthetic site."
items_per_feed = 20
scan_interval = 3600
cache_dir = "{cache}"

[author]
name = "Bench Author"
"""


def cache_control(item: Item) -> str:
    return "public, max-age=3600"


def export(content: Path, config: Path, out: Path) -> tuple[ExportView, float]:
    """Return the export of ``content`` in ``out``, building it unless an earlier run did."""
    if (out / "manifest.json").exists() and (out / ".complete").exists():
        return ExportView(out), 0.0
    started = time.perf_counter()
    command = [sys.executable, "-m", "feeds", "build", "--out", str(out), "--content", str(content), "--config", str(config)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (out / ".complete").touch()
    return ExportView(out), time.perf_counter() - started


def prepare(n: int) -> tuple[ExportView, ExportView]:
    work = ROOT / "bench" / ".work" / f"publish-{n}"
    content = work / "content"
    if not (work / ".generated").exists():
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_site.py"), str(n), str(content)], check=True, stdout=subprocess.DEVNULL)
        (work / ".generated").touch()
    config = work / "feeds.toml"
    config.write_text(CONFIG.format(cache=work / "cache"), encoding="utf-8")
    edited = work / "content-edited"
    if not edited.exists():
        shutil.copytree(content, edited, copy_function=os.link)  # hard links: only the edited post is a new file
        post = sorted(edited.glob("*.md"))[int(n * EDITED)]
        text = post.read_text(encoding="utf-8")
        post.unlink()
        post.write_text(text + "\nOne more paragraph, added in an edit.\n", encoding="utf-8")
    base, seconds = export(content, config, work / "out-base")
    print(f"export of {n} posts: {len(base.items)} documents" + (f", built in {seconds:.0f} s" if seconds else " (from an earlier run)"))
    after, seconds = export(edited, config, work / "out-edited")
    print("export after one edit" + (f": built in {seconds:.0f} s" if seconds else " (from an earlier run)"))
    return base, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="posts (default 10000)")
    parser.add_argument("--workers", type=int, default=8, help="upload threads (default 8)")
    args = parser.parse_args()
    base, edited = prepare(args.n)
    rows: list[tuple[str, PublishReport]] = []
    with SeaweedFS("feeds-bench", volume_size_mb=256, max_volumes=16) as s3:
        client = s3.client(max_pool_connections=args.workers, read_timeout=60)
        target = Target(s3.bucket, "site/")

        def run(label: str, view: ExportView) -> None:
            report = publish(view, target, site_url=SITE, cache_control=cache_control, client=client, workers=args.workers)
            rows.append((label, report))
            print(f"  {label}: {report.seconds:.1f} s", flush=True)

        run("from scratch", base)
        run("again, no change", base)
        run("after one edit", edited)
    print(f"\n{args.n} posts, {len(base.items)} documents; {args.workers} upload threads; {platform.node()}, {os.cpu_count()} cores\n")
    print("| publish | seconds | objects uploaded | MB uploaded | objects skipped | deleted | manifest KB | changed URLs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in rows:
        print(
            f"| {label} | {r.seconds:.1f} | {r.uploaded:,} | {r.uploaded_bytes / 1e6:,.1f} | {r.skipped:,} | {r.deleted} "
            f"| {r.manifest_bytes / 1e3:,.0f} | {len(r.changed_urls)} |"
        )


if __name__ == "__main__":
    main()
