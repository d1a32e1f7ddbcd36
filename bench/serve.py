"""Serving benchmark: the service (wsgi:app) under each WSGI server against nginx serving the same file from an export.

    python -m bench serve [N] [SECONDS]        # defaults: 1000 posts, 10 s per wrk run
    python -m bench serve 1000 5 --reps 3
    python -m bench serve 1000 10 --reps 5 --granian-variants="--blocking-threads 256;--blocking-threads 1"
    python -m bench serve 1000 10 --reps 7 --servers granian --kinds 304 --env-variants=FEEDS_STATS=false --before /path/to/main

Needs wrk and nginx (Debian: apt-get install -y nginx wrk). Every server listens on 127.0.0.1
only; each wrk run is bounded by SECONDS.

What is loaded: page 1 of a feed (``--paths``) over keep-alive connections, three ways: a cached
200 without gzip, a cached 200 with gzip, and a 304 (If-None-Match with the ETag of the gzip
representation, gzip accepted, as a polling reader sends it). The app answers repeated requests
from its in-memory replay cache (feeds/web/fastpath.py), so this measures the server's own
overhead. nginx serves a ``feeds build --out`` export with ``deploy/nginx-static.conf``. wrk is one
client fetching one feed in full again and again, exactly what the poll limits refuse, so both are
off: FEEDS_POLL_LIMIT=0 for the app, and the limit_req/limit_conn lines are dropped from
nginx-static.conf (everything else in it is as deployed). For every request the server under test
and nginx are loaded back to back, so each ratio compares two runs a few seconds apart; the whole
round is repeated ``--reps`` times and the table shows medians (the ratio is the median of the
per-round ratios). The CPU columns are the CPU time of the server's process tree per answer (the
CPU ratio: nginx's over the server's); on a shared VM they move much less with the neighbours'
load than req/s does. ``--app bench.flask_only:app`` measures the plain Flask path (no replay cache).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import BIN, ROOT, Process, Server, cpu_seconds, header, scratch, site
from tests.server import free_port

#: Request kind → the headers wrk sends (``{etag}``: the ETag of the gzip representation).
KINDS = {"200": {}, "200-gzip": {"Accept-Encoding": "gzip"}, "304": {"Accept-Encoding": "gzip", "If-None-Match": "{etag}"}}
NGINX_CONF = """\
worker_processes {workers};
error_log {folder}/logs/error.log warn;
pid {folder}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {folder}/tmp;
    proxy_temp_path {folder}/tmp;
    fastcgi_temp_path {folder}/tmp;
    uwsgi_temp_path {folder}/tmp;
    scgi_temp_path {folder}/tmp;
    include {folder}/feeds.conf;
}}
"""


@dataclass(frozen=True)
class Load:
    """One wrk run against one server."""

    rps: float
    #: 99th percentile latency, ms.
    p99: float
    #: wrk's own CPU time over the run's wall time, in cores.
    wrk_cores: float
    #: CPU time of the server's process tree per answer, µs.
    us_per_request: float


def ms(text: str) -> float:
    """wrk's latency (``812.00us``, ``4.51ms``, ``1.02s``) in ms."""
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(text)


def load(pid: int, url: str, headers: dict[str, str], args: argparse.Namespace) -> Load:
    """Run wrk on ``url`` for ``args.seconds``; what it reports, and the CPU the process tree of ``pid`` used."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.conns}", f"-d{args.seconds}s", "--latency", url]
    command += [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    before, wrk_before, started = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 60).stdout
    wall, wrk_after, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(pid)
    for line in out.splitlines():
        if "Non-2xx or 3xx" in line or "Socket errors" in line:
            print(f"bench serve: errors loading {url}: {line.strip()}", file=sys.stderr)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    wrk_cpu = (wrk_after.ru_utime - wrk_before.ru_utime) + (wrk_after.ru_stime - wrk_before.ru_stime)
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p99=ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        wrk_cores=wrk_cpu / wall,
        us_per_request=(after - before) * 1e6 / max(requests, 1),
    )


def etag(port: int, path: str) -> str:
    """The ETag of the gzip representation of ``path``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        response.read()
        return response.getheader("ETag") or ""
    finally:
        connection.close()


#: A server to load: kind (granian, gunicorn), extra flags, extra environment, the checkout whose code it runs.
Loaded = tuple[str, list[str], dict[str, str], Path]


def servers(args: argparse.Namespace) -> dict[str, Loaded]:
    """Label → what to run, of every server to load: the named ones, then one granian per variant, then ``--before``."""
    found: dict[str, tuple[str, list[str]]] = {}
    for name in args.servers.split():
        if name == "granian":
            found[name] = ("granian", shlex.split(args.granian_args))
        elif name == "gunicorn-sync":
            found[name] = ("gunicorn", shlex.split(args.gunicorn_args))
        elif name == "gunicorn-gthread":
            gthread = ["--worker-class", "gthread", "--threads", str(args.gthreads), "--keep-alive", str(args.keepalive)]
            found[f"{name} ×{args.gthreads}"] = ("gunicorn", gthread + shlex.split(args.gunicorn_args))
        else:
            raise SystemExit(f"bench serve: unknown server {name!r} (gunicorn-sync, gunicorn-gthread, granian)")
    for variant in filter(str.strip, args.granian_variants.split(";")):
        found[f"granian {variant.strip()}"] = ("granian", shlex.split(args.granian_args) + shlex.split(variant))
    loaded: dict[str, Loaded] = {label: (kind, extra, {}, ROOT) for label, (kind, extra) in found.items()}
    for variant in filter(str.strip, args.env_variants.split(";")):
        settings = dict(part.split("=", 1) for part in shlex.split(variant))
        loaded[f"granian {variant.strip()}"] = ("granian", shlex.split(args.granian_args), settings, ROOT)
    if args.before:
        loaded[f"granian, code of {args.before}"] = ("granian", shlex.split(args.granian_args), {}, Path(args.before).resolve())
    return loaded


def nginx(folder: Path, export: Path, workers: int) -> Process:
    """nginx with deploy/nginx-static.conf (without its limits) over ``export``, on a free port."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = (ROOT / "deploy" / "nginx-static.conf").read_text(encoding="utf-8")
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/var/lib/feeds/export", str(export))
    conf = "\n".join(line for line in conf.splitlines() if not line.lstrip().startswith(("limit_req ", "limit_conn ")))
    (folder / "logs").mkdir(parents=True)
    (folder / "tmp").mkdir()
    (folder / "feeds.conf").write_text(conf, encoding="utf-8")
    (folder / "nginx.conf").write_text(NGINX_CONF.format(workers=workers, folder=folder), encoding="utf-8")
    command = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    process = Process(command, folder / "logs" / "stdout.log", port=port).start()
    process.wait_up(process.url("/feed.xml"), 30)
    return process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", nargs="?", type=int, default=1000, help="posts (default 1000)")
    parser.add_argument("seconds", nargs="?", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--servers", default="granian gunicorn-sync gunicorn-gthread", help="space-separated (default: all three)")
    parser.add_argument("--reps", type=int, default=3, help="rounds; the table shows medians (default 3)")
    parser.add_argument("--paths", default="/feed.xml", help="space-separated paths to load (default /feed.xml)")
    parser.add_argument("--kinds", default=" ".join(KINDS), help=f"space-separated, of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--conns", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="workers of every server and of nginx (default 2)")
    parser.add_argument("--gthreads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("--keepalive", type=int, default=5, help="gthread keep-alive seconds (default 5)")
    parser.add_argument("--gunicorn-args", default="", help='extra gunicorn flags (--gunicorn-args="--backlog 64")')
    parser.add_argument("--granian-args", default="", help="extra flags for every granian (written with =, as above)")
    parser.add_argument(
        "--granian-variants",
        default="",
        help='";"-separated flag sets, each one more granian server: --granian-variants="--blocking-threads 256;--workers 1"',
    )
    parser.add_argument(
        "--env-variants",
        default="",
        help='";"-separated sets of VAR=value, each one more granian server run with them: --env-variants="FEEDS_STATS=false"',
    )
    parser.add_argument("--before", default="", help="another checkout: one more granian server running its code with this venv")
    parser.add_argument("--app", default="wsgi:app", help="the WSGI app (default wsgi:app; bench.flask_only:app: no replay cache)")


def run(args: argparse.Namespace) -> None:
    if not shutil.which("wrk") or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        raise SystemExit("bench serve: wrk and nginx are needed (Debian: apt-get install -y nginx wrk)")
    if not (BIN / "gunicorn").exists() or not (BIN / "granian").exists():
        raise SystemExit(f"bench serve: no gunicorn or granian in {BIN}; run 'make test' first (creates .venv)")
    loaded = servers(args)
    s = site(args.n)
    folder = scratch("feeds-serve-")
    rows: dict[tuple[str, str], list[tuple[Load, Load]]] = {}
    starts = itertools.count()
    static = None
    try:
        export = folder / "export"
        feeds = [str(BIN / "feeds"), "build", "--out", str(export), "--content", str(s.content), "--config", str(s.config)]
        subprocess.run(feeds, check=True, capture_output=True)
        static = nginx(folder / "nginx", export, args.workers)
        print(header("serve", f"N={args.n}", f"wrk -t{args.threads} -c{args.conns} -d{args.seconds}s, keep-alive", f"{args.reps} rounds"))
        print(f"# nginx: deploy/nginx-static.conf without its limits, worker_processes {args.workers}, over feeds build --out")
        for label, (kind, extra, settings, tree) in loaded.items():
            command = Server(kind, s, folder, folder, args.workers, app=args.app, extra=extra).command
            shown = " ".join(f"{k}={v}" for k, v in settings.items()) + (f" (code of {tree})" if tree != ROOT else "")
            print(f"# {label}: {' '.join(command).replace(str(BIN) + '/', '')} {shown}".rstrip())
        for rep in range(1, args.reps + 1):
            for label, (kind, extra, settings, tree) in loaded.items():
                state = folder / f"state-{next(starts)}"  # a fresh snapshot_dir per start, so each server builds
                (state / "metrics").mkdir(parents=True)  # an empty metrics folder, as production has one
                env = {"FEEDS_LOG_FORMAT": "kv", "PROMETHEUS_MULTIPROC_DIR": str(state / "metrics"), "PYTHONPATH": str(tree), **settings}
                app = Server(
                    kind, s, state / "snapshot", folder, args.workers, app=args.app, extra=[*extra, "--log-level", "warning"], env=env
                )
                app.cwd = tree  # wsgi.py and the package of that checkout (--before), with this venv's libraries
                app.start()
                try:
                    app.wait_up(app.url("/feed.xml"), 900)
                    for path in args.paths.split():
                        tags = etag(app.port, path), etag(static.port, path)
                        for kind_name in args.kinds.split():
                            headers = [{k: v.format(etag=tag) for k, v in KINDS[kind_name].items()} for tag in tags]
                            mine = load(app.pid, app.url(path), headers[0], args)
                            theirs = load(static.pid, static.url(path), headers[1], args)
                            rows.setdefault((label, f"{kind_name} {path}"), []).append((mine, theirs))
                            print(f"{rep}\t{label}\t{kind_name} {path}\t{mine}\t{theirs}", file=sys.stderr, flush=True)
                finally:
                    app.stop()
        print(f"# load at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        print(table(rows))
    finally:
        if static is not None:
            static.stop()
        shutil.rmtree(folder, ignore_errors=True)


def table(rows: dict[tuple[str, str], list[tuple[Load, Load]]]) -> str:
    lines = [
        "| server | request | req/s | p99 ms | CPU µs/req | nginx req/s | nginx p99 ms | nginx CPU µs/req "
        "| req/s ratio (min–max) | CPU ratio | wrk CPU (server / nginx run) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (label, request), runs in rows.items():

        def med(pick: int, field: str, runs: list[tuple[Load, Load]] = runs) -> float:
            return float(statistics.median(getattr(run[pick], field) for run in runs))

        ratios = [mine.rps / theirs.rps for mine, theirs in runs]
        cpu_ratio = statistics.median(theirs.us_per_request / mine.us_per_request for mine, theirs in runs)
        lines.append(
            f"| {label} | {request} | {med(0, 'rps'):,.0f} | {med(0, 'p99'):.1f} | {med(0, 'us_per_request'):.0f} "
            f"| {med(1, 'rps'):,.0f} | {med(1, 'p99'):.1f} | {med(1, 'us_per_request'):.0f} "
            f"| {statistics.median(ratios):.0%} ({min(ratios):.0%}–{max(ratios):.0%}) | {cpu_ratio:.0%} "
            f"| {med(0, 'wrk_cores'):.2f} / {med(1, 'wrk_cores'):.2f} cores |"
        )
    return "\n".join(lines)
