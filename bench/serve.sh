#!/usr/bin/env bash
# Serving benchmark: the service (wsgi:app) under each WSGI server against nginx serving the same
# file from a `feeds build --out` export with deploy/nginx-static.conf.
#
#   bench/serve.sh [N] [SECONDS]        # defaults: 1000 posts, 10 s per wrk run
#
# Needs wrk and nginx (Debian: apt-get install -y nginx wrk) and the project venv (make test).
# Every server listens on 127.0.0.1 only; each wrk run is bounded by SECONDS.
#
# What is loaded: page 1 of a feed (PATHS) over keep-alive connections, three ways: a cached
# 200 without gzip, a cached 200 with gzip, and a 304 (If-None-Match with the ETag of the gzip
# representation, gzip accepted, as a polling reader sends it). The app answers repeated requests
# from its in-memory replay cache (feeds/web/fastpath.py), so this measures the server's own
# overhead. wrk is one client fetching one feed in full again and again, exactly what the poll
# limits refuse, so both are off: FEEDS_POLL_LIMIT=0 for the app, and the limit_req/limit_conn
# lines are dropped from nginx-static.conf (everything else in it is as deployed).
# For every request the server under test and nginx are loaded back to back, so each ratio
# compares two runs a few seconds apart; the whole round is repeated REPS times and the table
# shows medians (the ratio is the median of the per-round ratios). The CPU columns are the CPU
# time of the server's process tree per answer (the CPU ratio: nginx's over the server's); on a
# shared VM they move much less with the neighbours' load than req/s does.
#
# Env: SERVERS (default "granian gunicorn-sync gunicorn-gthread"), REPS (default 3),
#      PATHS (default /feed.xml), KINDS (default "200 200-gzip 304"),
#      CONNS (default 50), THREADS (wrk, default 2), WORKERS (every server and nginx, default 2),
#      GTHREADS (threads per gthread worker, default 4), KEEPALIVE (gthread, default 5 s),
#      GUNICORN_ARGS (extra gunicorn flags), GRANIAN_ARGS (extra flags for every granian),
#      GRANIAN_VARIANTS (";"-separated flag sets: each adds a granian server with those flags, e.g.
#        GRANIAN_VARIANTS="--blocking-threads 256;--workers 1 --runtime-threads 2"; a flag given
#        again overrides the production one; 256 is granian's own default with 2 workers),
#      APP (default wsgi:app; APP=flask_only:app measures the plain Flask path, replay cache off).
set -euo pipefail

N=${1:-1000}
SECONDS_PER_RUN=${2:-10}
SERVERS=${SERVERS:-"granian gunicorn-sync gunicorn-gthread"}
REPS=${REPS:-3}
PATHS=${PATHS:-/feed.xml}
KINDS=${KINDS:-"200 200-gzip 304"}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
GTHREADS=${GTHREADS:-4}
KEEPALIVE=${KEEPALIVE:-5}
GUNICORN_ARGS=${GUNICORN_ARGS:-}
GRANIAN_ARGS=${GRANIAN_ARGS:-}
GRANIAN_VARIANTS=${GRANIAN_VARIANTS:-}
APP=${APP:-wsgi:app}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
BIN=$(dirname "$PY")

for tool in wrk nginx curl; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        echo "bench/serve.sh: '$tool' not found; install it (Debian/Ubuntu: apt-get install -y nginx wrk curl)" >&2
        exit 2
    fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN/gunicorn" ] && [ -x "$BIN/granian" ] || { echo "bench/serve.sh: no gunicorn or granian in $BIN; run 'make test' first (creates .venv)" >&2; exit 2; }

# The servers to load: name -> extra granian flags (the variants are granian+1, granian+2, ...).
declare -A VARIANT_ARGS=()
i=0
IFS=';' read -r -a variants <<<"$GRANIAN_VARIANTS"
for args in "${variants[@]}"; do
    [ -n "${args// /}" ] || continue
    i=$((i + 1))
    VARIANT_ARGS[granian+$i]=$args
    SERVERS="$SERVERS granian+$i"
done
for server in $SERVERS; do
    case $server in
        gunicorn-sync | gunicorn-gthread | granian | granian+*) ;;
        *) echo "bench/serve.sh: unknown server '$server' (gunicorn-sync, gunicorn-gthread, granian)" >&2; exit 2 ;;
    esac
done

SITE=$("$PY" "$ROOT/bench/build.py" --prepare "$N")  # bench/gen_site.py N, generated once
SCRATCH=$(mktemp -d -t feeds-serve-XXXXXX)
chmod 755 "$SCRATCH"  # nginx workers started by root run as nobody
NGINX_PID=
APP_PID=
stop_app() {
    if [ -n "$APP_PID" ]; then
        kill "$APP_PID" 2>/dev/null || true
        wait "$APP_PID" 2>/dev/null || true
        APP_PID=
    fi
}
cleanup() {
    stop_app
    [ -z "$NGINX_PID" ] || { kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; }
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_up() {  # url seconds
    for _ in $(seq 1 "$((10 * $2))"); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench/serve.sh: $1 did not come up; logs:" >&2
    cat "$SCRATCH"/nginx/logs/error.log "$SCRATCH"/app.log >&2 || true
    exit 1
}

# --- the static export, served by nginx with deploy/nginx-static.conf ------------------------
"$BIN/feeds" build --out "$SCRATCH/export" --content "$SITE/content" --config "$SITE/feeds.toml" >/dev/null 2>&1
NGINX_PORT=$(free_port)
mkdir -p "$SCRATCH/nginx/logs" "$SCRATCH/nginx/tmp"
sed -e "s#listen 80;#listen 127.0.0.1:$NGINX_PORT;#" \
    -e "s#root /var/lib/feeds/export;#root $SCRATCH/export;#" \
    -e '/^ *limit_req /d' -e '/^ *limit_conn /d' \
    "$ROOT/deploy/nginx-static.conf" >"$SCRATCH/nginx/feeds.conf"
cat >"$SCRATCH/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
error_log $SCRATCH/nginx/logs/error.log warn;
pid $SCRATCH/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $SCRATCH/nginx/tmp;
    proxy_temp_path $SCRATCH/nginx/tmp;
    fastcgi_temp_path $SCRATCH/nginx/tmp;
    uwsgi_temp_path $SCRATCH/nginx/tmp;
    scgi_temp_path $SCRATCH/nginx/tmp;
    include $SCRATCH/nginx/feeds.conf;
}
EOF
"$NGINX" -p "$SCRATCH/nginx" -c "$SCRATCH/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
wait_up "http://127.0.0.1:$NGINX_PORT/feed.xml" 30

# --- the service under one server at a time ---------------------------------------------------
server_cmd() {  # server port → the command line (also printed in the header)
    case $1 in
        # gunicorn reads ./gunicorn.conf.py (no preload, metrics folder, hooks); flags override it.
        gunicorn-sync) echo "gunicorn -w $WORKERS -b 127.0.0.1:$2 $GUNICORN_ARGS $APP" ;;
        gunicorn-gthread) echo "gunicorn -w $WORKERS --worker-class gthread --threads $GTHREADS --keep-alive $KEEPALIVE -b 127.0.0.1:$2 $GUNICORN_ARGS $APP" ;;
        # The production command (deploy/feeds.service), then any extra flags.
        granian*) echo "granian --interface wsgi --workers $WORKERS --blocking-threads 4 --host 127.0.0.1 --port $2 --http 1 --http1-header-read-timeout 10000 --workers-kill-timeout 10 --respawn-failed-workers $GRANIAN_ARGS ${VARIANT_ARGS[$1]:-} $APP" ;;
    esac
}

label() {  # server → its name in the table
    case $1 in
        granian+*) echo "granian ${VARIANT_ARGS[$1]}" ;;
        *) echo "$1" ;;
    esac
}

start_app() {  # server → APP_PORT, APP_PID
    APP_PORT=$(free_port)
    local cmd
    cmd=$(server_cmd "$1" "$APP_PORT")
    # A fresh snapshot_dir per start (so each server builds), and an empty metrics folder as
    # production has one (gunicorn.conf.py would make its own; for granian the unit provides it).
    local state="$SCRATCH/state-$APP_PORT"
    mkdir -p "$state/metrics"
    # shellcheck disable=SC2086  # $cmd is a command line
    (cd "$ROOT" && FEEDS_CONFIG="$SITE/feeds.toml" FEEDS_CONTENT_DIR="$SITE/content" FEEDS_LOG_FORMAT=kv \
        FEEDS_SNAPSHOT_DIR="$state/snapshot" PROMETHEUS_MULTIPROC_DIR="$state/metrics" FEEDS_POLL_LIMIT=0 \
        PYTHONPATH="$ROOT:$ROOT/bench" exec "$BIN"/$cmd --log-level warning) >"$SCRATCH/app.log" 2>&1 &
    APP_PID=$!
    wait_up "http://127.0.0.1:$APP_PORT/feed.xml" 900
}

etag() {  # url → the ETag of its gzip representation
    curl -fsS -o /dev/null -D - -H 'Accept-Encoding: gzip' "$1" | tr -d '\r' | awk 'tolower($1)=="etag:" {print $2}'
}

tree_cpu() {  # pid → CPU seconds (user + system) used so far by it and every process below it
    "$PY" - "$1" <<'PY'
import os, sys
ticks, children = {}, {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    children.setdefault(int(fields[1]), []).append(int(pid))
    ticks[int(pid)] = int(fields[11]) + int(fields[12])  # utime, stime
todo, total = [int(sys.argv[1])], 0
while todo:
    pid = todo.pop()
    total += ticks.get(pid, 0)
    todo.extend(children.get(pid, []))
print(total / os.sysconf("SC_CLK_TCK"))
PY
}

load() {  # pid url [header...] → "req/s p99 wrk-cpu µs/req" (wrk-cpu: wrk's CPU time / wall time, in
    # cores; µs/req: CPU time of the server's processes per answer, which the neighbours' load on a
    # shared VM moves much less than req/s)
    local pid=$1 url=$2 out cpu hdr=() before after
    shift 2
    for h in "$@"; do hdr+=(-H "$h"); done
    local TIMEFORMAT='%U %S %R'
    before=$(tree_cpu "$pid")
    { time out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "${hdr[@]}" "$url"); } 2>"$SCRATCH/time"
    after=$(tree_cpu "$pid")
    cpu=$(awk '{printf "%.2f", ($1 + $2) / $3}' "$SCRATCH/time")
    if echo "$out" | grep -q "Non-2xx or 3xx\|Socket errors"; then
        echo "bench/serve.sh: errors loading $url:" >&2
        echo "$out" | grep "Non-2xx or 3xx\|Socket errors" >&2
    fi
    local rps requests
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$rps $(echo "$out" | awk '$1=="99%" {print $2}') $cpu $(awk -v b="$before" -v a="$after" -v n="$requests" 'BEGIN {printf "%.1f", (a - b) * 1e6 / n}')"
}

headers_for() {  # kind etag → wrk headers, one per line
    case $1 in
        200) ;;
        200-gzip) echo "Accept-Encoding: gzip" ;;
        304) printf '%s\n' "Accept-Encoding: gzip" "If-None-Match: $2" ;;
    esac
}

RAW="$SCRATCH/raw.tsv"
: >"$RAW"
echo "# $(hostname) · $(nproc) CPUs · $(date -u '+%Y-%m-%d %H:%M UTC') · load $(cut -d' ' -f1-3 /proc/loadavg) · N=$N · wrk -t$THREADS -c$CONNS -d${SECONDS_PER_RUN}s, keep-alive · $REPS rounds"
echo "# nginx: deploy/nginx-static.conf without its limits, worker_processes $WORKERS, over feeds build --out"
for server in $SERVERS; do echo "# $(label "$server"): $(server_cmd "$server" PORT)"; done
for rep in $(seq 1 "$REPS"); do
    for server in $SERVERS; do
        start_app "$server"
        for path in $PATHS; do
            app_tag=$(etag "http://127.0.0.1:$APP_PORT$path")
            nginx_tag=$(etag "http://127.0.0.1:$NGINX_PORT$path")
            for kind in $KINDS; do
                mapfile -t app_headers < <(headers_for "$kind" "$app_tag")
                mapfile -t nginx_headers < <(headers_for "$kind" "$nginx_tag")
                read -r app_rps app_p99 app_cpu app_us < <(load "$APP_PID" "http://127.0.0.1:$APP_PORT$path" "${app_headers[@]}")
                read -r ngx_rps ngx_p99 ngx_cpu ngx_us < <(load "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT$path" "${nginx_headers[@]}")
                printf '%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$(label "$server")" "$kind" "$path" \
                    "$app_rps" "$app_p99" "$app_cpu" "$app_us" "$ngx_rps" "$ngx_p99" "$ngx_cpu" "$ngx_us" | tee -a "$RAW" >&2
            done
        done
        stop_app
    done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$RAW" <<'EOF'
import statistics, sys

def ms(text):  # wrk latency: "812.00us", "4.51ms", "1.02s"
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(text)

rows = {}
for line in open(sys.argv[1]):
    rep, server, request, rps, p99, cpu, us, nrps, np99, ncpu, nus = line.rstrip("\n").split("\t")
    rows.setdefault((server, request), []).append(
        (float(rps), ms(p99), float(cpu), float(us), float(nrps), ms(np99), float(ncpu), float(nus)))
print("| server | request | req/s | p99 ms | CPU µs/req | nginx req/s | nginx p99 ms | nginx CPU µs/req "
      "| req/s ratio (min–max) | CPU ratio | wrk CPU (server / nginx run) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (server, request), runs in rows.items():
    med = [statistics.median(r[i] for r in runs) for i in range(8)]
    ratios = [r[0] / r[4] for r in runs]
    cpu_ratio = statistics.median(r[7] / r[3] for r in runs)  # nginx's CPU per answer / the server's
    print(f"| {server} | {request} | {med[0]:,.0f} | {med[1]:.1f} | {med[3]:.0f} | {med[4]:,.0f} | {med[5]:.1f} | {med[7]:.0f} "
          f"| {statistics.median(ratios):.0%} ({min(ratios):.0%}–{max(ratios):.0%}) | {cpu_ratio:.0%} | {med[2]:.2f} / {med[6]:.2f} cores |")
EOF
