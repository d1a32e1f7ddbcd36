"""The tables of ``python -m bench prod``: per size, each figure per server, its target, met or NOT met."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from typing import Any

from bench.common import header

WORKERS = 4


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if len(known) == len(values) and known else None


def total(memory: dict[Any, dict[str, float]]) -> float:
    return sum(p["pss"] for p in memory.values())


def worst_worker(memory: dict[Any, dict[str, float]]) -> float:
    return max(p["pss"] for p in memory.values())


def seconds(v: float | None) -> str:
    return "—" if v is None else f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def verdict(value: float | None, limit: float | None, below: bool = False) -> str:
    if value is None or limit is None:
        return "—" if limit is None else "NOT met (no value)"
    ok = value < limit if below else value <= limit
    return "met" if ok else "NOT met"


def lag(start: dict[str, Any]) -> float | None:
    """Seconds from the first 200 to every worker serving, in one start."""
    every = start.get("every_worker")
    return None if every is None else float(every) - float(start["first_200"])


def figures(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """One server kind's figures for one size: medians over reps, counts summed, worst cases maxed."""
    failed = sum("error" in t for t in trials)
    trials = [t for t in trials if "error" not in t]
    if not trials:
        return {"failed": failed} if failed else {}

    def med(*keys: str) -> float | None:
        values = []
        for t in trials:
            v: Any = t
            for k in keys:
                v = v.get(k) if isinstance(v, dict) else None
            values.append(v)
        return median(values)

    starts = [t[k] for t in trials for k in ("cold", "warm", "warm_scan1") if k in t]
    return {
        "first_200": med("cold", "first_200"),
        "all_page1": med("cold", "all_page1"),
        "page1_feeds": trials[0]["cold"].get("page1_feeds"),
        "page1_sweep_started": med("cold", "page1_sweep_started"),
        "page1_not_ready": sum(t["cold"].get("page1_not_ready_when_asked", 0) for t in trials),
        "worker_lag": median([lag(t["cold"]) for t in trials]),
        "tag_page3": med("cold", "tag_page3"),
        "older_max": max((x["older_max"] for x in starts if x.get("older_max") is not None), default=None),
        "older_asked": sum(x.get("older_asked", 0) for x in starts),
        "older_failed": sum(len(x.get("older_failed", [])) for x in starts),
        "http_5xx_before": sum(x.get("http_5xx_before_first_200", 0) for x in starts),
        "http_5xx_after": sum(x.get("http_5xx_after_first_200", 0) for x in starts),
        "last_5xx_after": max(
            (x["last_5xx"] - x["first_200"] for x in starts if x.get("last_5xx") and x["last_5xx"] > x["first_200"]), default=None
        ),
        "conn_before": sum(x.get("conn_errors_before_first_200", 0) for x in starts),
        "conn_after": sum(x.get("conn_errors_after_first_200", 0) for x in starts),
        "timeouts": sum(x.get("server_log", {}).get("worker_timeouts", 0) for x in starts),
        "respawns": sum(max(0, x.get("server_log", {}).get("worker_boots", WORKERS) - WORKERS) for x in starts),
        "pss_startup": median([total(t["cold"]["memory_after_startup"]) for t in trials]),
        "pss_crawl": median([total(t["memory_after_crawl"]) for t in trials]),
        "pss_worker": median([worst_worker(t["memory_after_crawl"]) for t in trials]),
        "processes": len(trials[0]["memory_after_crawl"]),
        "crawl_docs": trials[0]["crawl"]["documents"],
        "crawl_seconds": med("crawl", "seconds_plain"),
        "crawl_failures": sum(t["crawl"]["failures"] for t in trials),
        "request_to_visible": med("edit_request", "request_to_visible"),
        "request_detect_to_visible": med("edit_request", "detect_to_visible"),
        "scan_detect_to_visible": med("edit_scan", "detect_to_visible"),
        "scan_first_detect_to_visible": med("edit_scan_first", "detect_to_visible"),
        "scan_first_rebuild": med("edit_scan_first", "rebuild_seconds"),
        "scan_detect_to_loaded": med("edit_scan", "detect_to_loaded"),
        "scan_write_to_visible": med("edit_scan", "write_to_visible"),
        "warm_first_200": med("warm", "first_200"),
        "warm_all_page1": med("warm", "all_page1"),
        "warm_worker_lag": median([lag(t["warm"]) for t in trials]),
        "stop": med("stop_seconds"),
        "failed": failed,
    }


def count(v: float) -> str:
    return f"{v:.0f}"


def mb(v: float) -> str:
    return f"{v:.0f} MB"


def table_row(
    lines: list[str],
    figs: dict[str, dict[str, Any]],
    servers: list[str],
    label: str,
    key: str,
    fmt: Callable[[float], str] = seconds,
    limit: float | None = None,
    target: str = "",
    below: bool = False,
) -> None:
    """Append one figure's row: each server's value (and met / NOT met when there is a limit), then the target."""
    cells = []
    for k in servers:
        v = figs[k].get(key)
        cell = fmt(v) if v is not None else "—"
        if limit is not None:
            cell += f" ({verdict(v, limit, below)})"
        cells.append(cell)
    lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")


def report(rows: list[dict[str, Any]], servers: list[str]) -> str:
    lines = [header("prod"), ""]
    previous: tuple[int, dict[str, dict[str, Any]]] | None = None
    for row in rows:
        n = row["n"]
        f = {k: figures(row["trials"][k]) for k in servers}
        reps = max(len(v) for v in row["trials"].values())
        hugo_rss = statistics.median(row["hugo"]["rss"]) if row["hugo"].get("rss") else None
        hugo_full = statistics.median(row["hugo"]["full"]) if row["hugo"].get("full") else None
        lines.append(f"## {n:,} posts · {WORKERS} workers · {reps} rep(s), medians")
        lines.append("")
        if hugo_rss is not None and hugo_full is not None:
            runs = [", ".join(f"{t:.2f}" for t in row["hugo"][v]) for v in ("rss", "full")]
            lines.append(
                f"Hugo on the same posts ({row['hugo']['version'].split()[1].split('-')[0]}): RSS-only site **{hugo_rss:.2f} s**, "
                f"full site **{hugo_full:.2f} s** (runs {runs[0]} / {runs[1]})."
            )
            lines.append("")
        lines.append("| figure | " + " | ".join(servers) + " | target |")
        lines.append("|---|" + "---|" * len(servers) + "---|")

        add = functools.partial(table_row, lines, f, servers)
        page1 = next((f[k]["page1_feeds"] for k in servers if f[k].get("page1_feeds")), "?")
        docs = next((f[k]["crawl_docs"] for k in servers if f[k].get("crawl_docs")), "?")
        add("trials that failed (see the JSON)", "failed", fmt=count, limit=0, target="0")
        add("cold: first 200 on /feed.xml", "first_200")
        add(
            f"cold: every page-1 feed ({page1}) answered 200",
            "all_page1",
            limit=0.5 * hugo_full if hugo_full else None,
            target=f"≤ 0.5 × Hugo full = {seconds(0.5 * hugo_full)}" if hugo_full else "",
        )
        add(
            "  same, against Hugo RSS-only",
            "all_page1",
            limit=hugo_rss,
            target=f"≤ 1.0 × Hugo RSS-only = {seconds(hugo_rss)}" if hugo_rss else "",
        )
        add("  (the sweep of page-1 feeds started at)", "page1_sweep_started")
        add("  page-1 feeds not ready when the sweep first asked", "page1_not_ready", fmt=count)
        add("cold: every worker serving, after the first 200", "worker_lag", limit=1.0, target="≤ 1 s")
        add(f"cold: page 3 of tag {row['tag']!r} answered 200", "tag_page3")
        add("older page: slowest ask → 200 after the first 200 (all starts)", "older_max", limit=1.0, target="≤ 1 s")
        add("  older pages asked after the first 200", "older_asked", fmt=count)
        add("  of which never 200 within 10 s", "older_failed", fmt=count, limit=0, target="0")
        add("5xx while start-up was polled, before the first 200 (all starts)", "http_5xx_before", fmt=count, limit=0, target="0")
        add("  after the first 200", "http_5xx_after", fmt=count, limit=0, target="0")
        add("  the last 5xx, after the first 200 (worst start)", "last_5xx_after")
        add("connection errors (refused, reset, 10 s timeout) before the first 200", "conn_before", fmt=count)
        add("  after the first 200", "conn_after", fmt=count, limit=0, target="0")
        add("worker timeouts in the server log", "timeouts", fmt=count, limit=0, target="0")
        add("worker respawns (boots beyond 4 per start)", "respawns", fmt=count, limit=0, target="0")
        add("PSS, all processes, after start-up", "pss_startup", fmt=mb)
        add(
            f"PSS, all processes, after the full crawl ({docs} documents × 2)",
            "pss_crawl",
            fmt=mb,
            limit=400,
            target="≤ 400 MB",
        )
        add("  largest single process after the crawl", "pss_worker", fmt=mb)
        if previous is not None:
            m, before = previous
            for k in servers:
                if f[k].get("pss_crawl") and before.get(k, {}).get("pss_crawl"):
                    f[k]["growth"] = (f[k]["pss_crawl"] - before[k]["pss_crawl"]) / ((n - m) / 1000)
            add(f"  growth per 1,000 posts since {m:,}", "growth", fmt=mb, limit=10, target="< 10 MB", below=True)
        add("crawl time (plain)", "crawl_seconds")
        add("  crawl answers not 200", "crawl_failures", fmt=count, limit=0, target="0")
        add("edit: POST /-/rebuild → every worker serves it", "request_to_visible")
        add("edit: detection → every worker (rebuild request)", "request_detect_to_visible", limit=0.3, target="≤ 300 ms")
        add("edit: detection → every worker (scan_interval 1)", "scan_detect_to_visible", limit=0.3, target="≤ 300 ms")
        add("  same, from the log (last follower load)", "scan_detect_to_loaded")
        add("  same, first edit after a restart", "scan_first_detect_to_visible", limit=0.3, target="≤ 300 ms")
        add("  its rebuild (scan start → swap, from the log)", "scan_first_rebuild")
        add("edit: file write → every worker (scan_interval 1)", "scan_write_to_visible")
        add("warm restart: first 200", "warm_first_200", limit=1.0, target="≤ 1 s")
        add("warm restart: every page-1 feed", "warm_all_page1")
        add("warm restart: every worker, after the first 200", "warm_worker_lag")
        add("stop (SIGTERM → master exited)", "stop")
        lines.append("")
        previous = (n, f)
    return "\n".join(lines)
