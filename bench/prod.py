"""Production benchmark: gunicorn and granian with 4 workers against Hugo, interleaved, per site size.

Needs the ``bench`` extra for Hugo::

    python -m bench prod --sizes 1000 --reps 1                  # a quick run (~5 min)
    python -m bench prod --sizes 1000,10000 --reps 3 --out bench/prod-results.md
    python -m bench prod --sizes 10000 --servers granian --no-hugo

Sites are generated once into ``bench/.work/site-N`` (the edits below are always undone). Per
size and rep the order is Hugo RSS-only, each server, Hugo full (the servers' order flips every
other rep). Each server kind is measured in one *trial* of three starts, all on 127.0.0.1, with ``-w 4``/``--workers 4``, the production
commands (``gunicorn -c gunicorn.conf.py``, ``granian --interface wsgi`` with ``deploy/feeds.service``'s flags), a fresh
``FEEDS_SNAPSHOT_DIR`` per trial, ``FEEDS_WORKER_HEADER=true`` (every answer names its worker
pid), JSON logs, and for granian a fresh ``PROMETHEUS_MULTIPROC_DIR``:

1. **Cold start** (empty snapshot dir). From ``time.monotonic()`` before ``Popen``: first 200 on
   ``/feed.xml``; every page-1 feed (all scopes and formats, read from the three OPML lists)
   answering 200; every worker answering 200 (distinct ``X-Feeds-Worker`` pids = 4); page 3 of the
   biggest tag's RSS feed, reached by following ``rel="next"`` links. Meanwhile two poller
   threads hit page-1 feeds and walk older pages (``next`` links, round robin over the feeds);
   every answer's status is counted, and every older page asked after the first 200 is timed
   until it answers 200. Then a **full crawl** (``/``, ``/tags/``, every tag page, the OPML lists,
   every page of every feed by ``next``; then all of it again with ``Accept-Encoding: gzip``),
   and the **PSS** of the master and every descendant (``/proc/<pid>/smaps_rollup``). Then an
   **edit by request**: one post in the middle of the site gets a sentence appended, then
   ``POST /-/rebuild``; the feed page holding that post (found in the crawl) is polled from 4
   threads until every worker pid serves a new ETag. The edit is undone the same way.
2. **Warm restart**: SIGTERM, wait, start again on the same snapshot dir; the same start-up
   probes (no crawl).
3. **Edit by scan**: another warm start with ``FEEDS_SCAN_INTERVAL=1``; the same edit, found by
   the scheduled scan, polled until every worker serves it, undone, then once more: the first
   edit after a restart is reported on its own (today it costs a full rebuild). "Detection" is
   the start of the scan that found it: the builder's ``rebuild`` event (logged after the swap)
   minus its ``seconds``.

The pollers of every start go on until ``--poll-after`` seconds (default 10) after its first 200.

The server log is scanned for worker timeouts and respawns. Output: a markdown table per size
(medians over reps; counts summed, worst cases maxed) with each target and met / NOT met, then
the raw figures as JSON (``--out FILE`` writes FILE and FILE.json). Every wait is bounded
(``--startup-timeout``, default max(120 s, 30 ms per post), for each start and each edit; the
crawl gets max(300 s, 60 ms per post)); every server is stopped, by its process group, whatever
happens, and a trial that fails is counted in the table and kept in the JSON with its error.

How to read the figures:

- Every time is seen from a client on the same machine: a milestone is reached when *our*
  request got its 200, so it is an upper bound (20 ms between retries, plus the request). The
  page-1 figure includes the sweep's own 153 requests (3 threads); "sweep started at" and "not
  ready when first asked" say how much of it is ours.
- Which worker answers is the kernel's choice. "Every worker" is when the 4th distinct pid first
  answered 200 while the sweeps and pollers (up to 6 concurrent requests) were running.
- 5xx and connection-error counts grow with the polling rate; the targets are zero, and "the
  last 5xx after the first 200" says for how long they went on.
- "Detection" is the start of the scan that found the edit (the ``rebuild`` event's wall-clock
  ``ts`` minus its ``seconds``, ms precision), which is no later than the moment it was found,
  so "detection → every worker" errs on the long side. Only the edited post's page of the
  site's RSS feed is polled.
- PSS is summed over the master and all its descendants at that moment (a start-up helper that
  is still alive counts). The growth per 1,000 posts compares one size with the previous one.
- Hugo's RSS-only site renders no Markdown (its items carry the front-matter summary) and
  writes RSS only, with no older pages; see ``bench/vs_hugo.py``. The start-up and edit
  probes are in ``bench/milestones.py``, the HTTP client and the crawl in ``bench/probe.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import probe, vs_hugo
from bench.common import BIN, SITE_URL, Server, Site, memory, scratch, site, sizes
from bench.milestones import measure_edit, startup
from bench.probe import Client
from bench.prod_report import WORKERS, report

# --- one trial: cold start, crawl, memory, edit; warm restart; edit by scan ------------------------


def server_of(kind: str, s: Site, snapshot_dir: Path, folder: Path, **env: str) -> Server:
    """A start of ``kind`` with 4 workers, every answer naming its worker, JSON logs; for granian a fresh metrics folder."""
    env |= {"FEEDS_WORKER_HEADER": "true", "FEEDS_LOG_FORMAT": "json"}
    if kind == "granian":  # gunicorn.conf.py makes its own
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=folder)
    return Server(kind, s, snapshot_dir, folder, WORKERS, env=env)


def trial(kind: str, s: Site, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    snapshot_dir = folder / f"snapshot-{kind}"
    shutil.rmtree(snapshot_dir, ignore_errors=True)
    tag = s.biggest_tag()
    timeout = args.startup_timeout or max(120.0, 0.03 * s.n)
    out: dict[str, Any] = {"server": kind}

    def workers(server: Server, start: dict[str, Any]) -> set[int]:
        """The workers that served during start-up and are still there (not a start-up helper that exited)."""
        return set(start["pids_seen"]) & server.workers()

    server = server_of(kind, s, snapshot_dir, folder).start()
    out["command"] = " ".join(server.command).replace(str(BIN) + "/", "")
    try:
        out["cold"] = startup(server, timeout, tag, args.poll_after)
        out["cold"]["memory_after_startup"] = memory(server.pid)
        client = Client(server.port, SITE_URL)
        scopes = probe.discover(client, time.monotonic() + 30)
        marker = f"<link>{s.edited_url}</link>".encode()
        found = probe.crawl(client, scopes, time.monotonic() + max(300.0, 0.06 * s.n), keep=lambda path, body: marker in body)
        site_rss = found.chains.get((scopes[0].name, "rss"), [])
        holding = [p for p in site_rss if p in found.kept] or sorted(found.kept)
        out["crawl"] = {
            "documents": len(found.documents),
            "feed_pages": sum(len(c) for c in found.chains.values()),
            "seconds_plain": found.seconds_plain,
            "seconds_gzip": found.seconds_gzip,
            "mb_plain": found.bytes_plain / 2**20,
            "mb_gzip": found.bytes_gzip / 2**20,
            "gzip_answers": found.gzip_answers,
            "failures": len(found.failures),
            "failure_sample": found.failures[:10],
        }
        out["memory_after_crawl"] = memory(server.pid)
        if not holding:
            raise RuntimeError(f"no feed page holds {s.edited_url}")
        out["edited_page"] = page = holding[0]
        out["edit_request"] = measure_edit(server, client, page, "request", workers(server, out["cold"]), timeout)
        out["cold"]["server_log"] = probe.server_trouble(server.log)
    finally:
        out["stop_seconds"] = server.stop()

    server = server_of(kind, s, snapshot_dir, folder).start()
    try:
        out["warm"] = startup(server, timeout, tag, args.poll_after)
        out["warm"]["memory_after_startup"] = memory(server.pid)
        out["warm"]["server_log"] = probe.server_trouble(server.log)
    finally:
        server.stop()

    server = server_of(kind, s, snapshot_dir, folder, FEEDS_SCAN_INTERVAL="1").start()
    try:
        out["warm_scan1"] = start = startup(server, timeout, tag, args.poll_after)
        settle(server, time.monotonic() + timeout)
        client = Client(server.port, SITE_URL)
        # The first edit after a restart, then one more: the builder may only have parsed state after one rebuild.
        out["edit_scan_first"] = measure_edit(server, client, page, "scan", workers(server, start), timeout)
        out["edit_scan"] = measure_edit(server, client, page, "scan", workers(server, start), timeout)
        out["warm_scan1"]["server_log"] = probe.server_trouble(server.log)
    finally:
        server.stop()
    return out


def settle(server: Server, deadline: float) -> None:
    """Wait until the restarted builder has adopted (or rebuilt) the published snapshot, plus one scan."""
    while time.monotonic() < deadline:
        if probe.events(server.log, {"adopt", "rebuild"}):
            break
        time.sleep(0.2)
    time.sleep(1.5)


# --- the driver -------------------------------------------------------------------


def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    s = site(n)
    work = scratch(f"feeds-prod-{n}-")
    servers = args.servers.split(",")
    row: dict[str, Any] = {"n": n, "tag": s.biggest_tag(), "edited": s.edited.name, "hugo": {}, "trials": {k: [] for k in servers}}
    try:
        hugo_roots = {}
        if not args.no_hugo:
            hugo = vs_hugo.binary()
            hugo_roots = {v: vs_hugo.make_site(s.posts, work / f"hugo-{v}", v) for v in ("rss", "full")}
            for root in hugo_roots.values():
                vs_hugo.build(root, hugo)  # untimed warm-up, as python -m bench hugo does
            row["hugo"] = {
                "rss": [],
                "full": [],
                "version": vs_hugo.version(hugo),
            }
        for rep in range(args.reps):
            order = servers if rep % 2 == 0 else servers[::-1]
            steps: list[str] = (["hugo-rss"] if hugo_roots else []) + order + (["hugo-full"] if hugo_roots else [])
            for step in steps:
                print(f"[{time.strftime('%H:%M:%S')}] N={n} rep {rep + 1}/{args.reps}: {step}", file=sys.stderr, flush=True)
                if step.startswith("hugo-"):
                    variant = step[5:]
                    row["hugo"][variant].append(vs_hugo.build(hugo_roots[variant], hugo))
                    if rep == 0:
                        row["hugo"][f"{variant}_output"] = vs_hugo.describe(hugo_roots[variant])
                else:
                    try:
                        row["trials"][step].append(trial(step, s, work, args))
                    except Exception as e:  # one failed trial must not lose the others; the table counts it
                        print(f"  {step} failed: {e}", file=sys.stderr)
                        row["trials"][step].append({"server": step, "error": f"{type(e).__name__}: {e}"})
        return row
    finally:
        if args.keep:
            print(f"kept {work} (server logs, snapshots, Hugo sites)", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=sizes, default="1000,10000", help="comma-separated post counts (default: 1000,10000)")
    parser.add_argument("--servers", default="gunicorn,granian", help="comma-separated, of gunicorn, granian (default: both)")
    parser.add_argument("--reps", type=int, default=3, help="trials per server and Hugo builds per site, per size (default: 3)")
    parser.add_argument("--out", type=Path, help="write the markdown here and the raw figures to OUT.json")
    parser.add_argument("--no-hugo", action="store_true", help="skip the Hugo builds (the ratios are then left out)")
    parser.add_argument("--poll-after", type=float, default=10, help="seconds the start-up pollers go on after the first 200 (default: 10)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders (server logs, snapshots) and print where")
    parser.add_argument("--startup-timeout", type=float, default=0, help="seconds each start may take (default: max(120, 0.03 × N))")


def run(args: argparse.Namespace) -> None:
    servers = args.servers.split(",")
    for kind in servers:
        if kind not in ("gunicorn", "granian"):
            raise SystemExit(f"unknown server {kind!r}")
        if not (BIN / kind).exists():
            raise SystemExit(f"{BIN / kind} missing: make test (it installs gunicorn and granian into .venv)")
    rows = [run_size(n, args) for n in args.sizes]
    text = report(rows, servers)
    print(text)
    raw = json.dumps(rows, indent=1, default=str)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        args.out.with_name(args.out.name + ".json").write_text(raw + "\n", encoding="utf-8")
    else:
        print("\n```json\n" + raw + "\n```")
