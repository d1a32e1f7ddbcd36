#!/usr/bin/env bash
# Serving benchmark: the service (wsgi:app) under each WSGI server against nginx serving
# `feeds build` output of the same site.
#
#   bench/serve.sh [N] [SECONDS]        # defaults: 10000 posts, 10 s per wrk run
#
# Needs wrk and nginx (Debian: apt-get install -y nginx wrk) and the project venv (make test);
# the granian variant needs the `fast` extra (.venv/bin/pip install -e '.[fast]'), else it is skipped.
# Every server listens on 127.0.0.1 only; each wrk run is bounded by SECONDS.
# For every request the server under test and nginx are loaded back to back, so each ratio
# compares two runs a few seconds apart; the whole round is repeated REPS times and the
# table shows medians.
# Env: SERVERS (default "gunicorn-sync gunicorn-gthread granian"), REPS (default 2),
#      CONNS (default 50), THREADS (wrk, default 2), WORKERS (every server, default 2),
#      GTHREADS (threads per gthread worker, default 4), KEEPALIVE (gthread, default 5 s),
#      GUNICORN_ARGS (extra gunicorn flags), GRANIAN_ARGS (extra granian flags),
#      APP (default wsgi:app; APP=flask_only:app measures the plain Flask path, replay cache off).
set -euo pipefail

N=${1:-10000}
SECONDS_PER_RUN=${2:-10}
SERVERS=${SERVERS:-"gunicorn-sync gunicorn-gthread granian"}
REPS=${REPS:-2}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
GTHREADS=${GTHREADS:-4}
KEEPALIVE=${KEEPALIVE:-5}
GUNICORN_ARGS=${GUNICORN_ARGS:-}
GRANIAN_ARGS=${GRANIAN_ARGS:-}
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
[ -x "$BIN/gunicorn" ] || { echo "bench/serve.sh: $BIN/gunicorn missing; run 'make test' first (creates .venv)" >&2; exit 2; }
for server in $SERVERS; do
    case $server in
        gunicorn-sync | gunicorn-gthread) ;;
        granian) [ -x "$BIN/granian" ] || { echo "bench/serve.sh: no granian in $BIN (pip install -e '.[fast]'); skipping it" >&2; SERVERS=${SERVERS//granian/}; } ;;
        *) echo "bench/serve.sh: unknown server '$server' (gunicorn-sync, gunicorn-gthread, granian)" >&2; exit 2 ;;
    esac
done

SITE=$("$PY" "$ROOT/bench/build.py" --prepare "$N")
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
    for _ in $(seq 1 "$2"); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 1
    done
    echo "bench/serve.sh: $1 did not come up; logs:" >&2
    cat "$SCRATCH"/nginx/logs/error.log "$SCRATCH"/app.log >&2 || true
    exit 1
}

# --- the static export, served by nginx -------------------------------------------------
"$BIN/feeds" build --out "$SCRATCH/export" --content "$SITE/content" --config "$SITE/feeds.toml" >/dev/null
NGINX_PORT=$(free_port)
mkdir -p "$SCRATCH/nginx/logs"
cat >"$SCRATCH/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
error_log $SCRATCH/nginx/logs/error.log warn;
pid $SCRATCH/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $SCRATCH/nginx/tmp;
    proxy_temp_path $SCRATCH/nginx/tmp;
    fastcgi_temp_path $SCRATCH/nginx/tmp;
    uwsgi_temp_path $SCRATCH/nginx/tmp;
    scgi_temp_path $SCRATCH/nginx/tmp;
    types { application/rss+xml xml; application/feed+json json; text/html html; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $SCRATCH/export;
        gzip_static on;
        location / { try_files \$uri \$uri/index.html =404; }
    }
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
        granian) echo "granian --interface wsgi --workers $WORKERS --host 127.0.0.1 --port $2 --no-ws $GRANIAN_ARGS $APP" ;;
    esac
}

start_app() {  # server → APP_PORT, APP_PID
    APP_PORT=$(free_port)
    local cmd
    cmd=$(server_cmd "$1" "$APP_PORT")
    local quiet="--log-level warning"
    # A fresh snapshot_dir per start (so each server builds), and a metrics folder as production
    # has one (gunicorn.conf.py would make its own; granian needs the operator to set it).
    local state="$SCRATCH/state-$1-$APP_PORT"
    mkdir -p "$state/metrics"
    (cd "$ROOT" && FEEDS_CONFIG="$SITE/feeds.toml" FEEDS_CONTENT_DIR="$SITE/content" FEEDS_LOG_FORMAT=kv \
        FEEDS_SNAPSHOT_DIR="$state/snapshot" PROMETHEUS_MULTIPROC_DIR="$state/metrics" \
        PYTHONPATH="$ROOT:$ROOT/bench" exec "$BIN"/$cmd $quiet) >"$SCRATCH/app.log" 2>&1 &
    APP_PID=$!
    wait_up "http://127.0.0.1:$APP_PORT/feed.xml" 900
}

etag() {  # url → the ETag of its gzip representation
    curl -fsS -o /dev/null -D - -H 'Accept-Encoding: gzip' "$1" | tr -d '\r' | awk 'tolower($1)=="etag:" {print $2}'
}

load() {  # url [header] → "req/s p99 wrk-cpu" (wrk-cpu: wrk's CPU time / wall time, in cores)
    local out cpu hdr=()
    [ $# -gt 1 ] && hdr=(-H "$2")
    local TIMEFORMAT='%U %S %R'
    { time out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -H 'Accept-Encoding: gzip' "${hdr[@]}" "$1"); } 2>"$SCRATCH/time"
    cpu=$(awk '{printf "%.2f", ($1 + $2) / $3}' "$SCRATCH/time")
    if echo "$out" | grep -q "Non-2xx or 3xx\|Socket errors"; then
        echo "bench/serve.sh: errors loading $1:" >&2
        echo "$out" | grep "Non-2xx or 3xx\|Socket errors" >&2
    fi
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}') $cpu"
}

TAG_FEED=/tags/go/feed.xml
RAW="$SCRATCH/raw.tsv"
: >"$RAW"
echo "# $(hostname) · $(nproc) CPUs · $(date -u '+%Y-%m-%d %H:%M UTC') · N=$N · wrk -t$THREADS -c$CONNS -d${SECONDS_PER_RUN}s, gzip accepted · $REPS rounds"
echo "# nginx: worker_processes $WORKERS, gzip_static on"
for server in $SERVERS; do echo "# $server: $(server_cmd "$server" PORT)"; done
for rep in $(seq 1 "$REPS"); do
    for server in $SERVERS; do
        start_app "$server"
        for path in /feed.xml "$TAG_FEED"; do
            app_tag=$(etag "http://127.0.0.1:$APP_PORT$path")
            nginx_tag=$(etag "http://127.0.0.1:$NGINX_PORT$path")
            for kind in 200 304; do
                if [ "$kind" = 200 ]; then
                    read -r app_rps app_p99 app_cpu < <(load "http://127.0.0.1:$APP_PORT$path")
                    read -r ngx_rps ngx_p99 ngx_cpu < <(load "http://127.0.0.1:$NGINX_PORT$path")
                else
                    read -r app_rps app_p99 app_cpu < <(load "http://127.0.0.1:$APP_PORT$path" "If-None-Match: $app_tag")
                    read -r ngx_rps ngx_p99 ngx_cpu < <(load "http://127.0.0.1:$NGINX_PORT$path" "If-None-Match: $nginx_tag")
                fi
                printf '%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$server" "$kind" "$path" \
                    "$app_rps" "$app_p99" "$app_cpu" "$ngx_rps" "$ngx_p99" "$ngx_cpu" | tee -a "$RAW" >&2
            done
        done
        stop_app
    done
done

# Medians over the rounds; the ratio is the median of the per-pair ratios.
"$PY" - "$RAW" <<'EOF'
import statistics, sys

def ms(text):  # wrk latency: "812.00us", "4.51ms", "1.02s"
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(text)

rows = {}
for line in open(sys.argv[1]):
    rep, server, request, rps, p99, cpu, nrps, np99, ncpu = line.rstrip("\n").split("\t")
    rows.setdefault((server, request), []).append(
        (float(rps), ms(p99), float(cpu), float(nrps), ms(np99), float(ncpu)))
print("| server | request | req/s | p99 ms | nginx req/s | nginx p99 ms | ratio | wrk CPU (server / nginx run) |")
print("|---|---|---|---|---|---|---|---|")
for (server, request), runs in rows.items():
    med = [statistics.median(r[i] for r in runs) for i in range(6)]
    ratio = statistics.median(r[0] / r[3] for r in runs)
    print(f"| {server} | {request} | {med[0]:,.0f} | {med[1]:.1f} | {med[3]:,.0f} | {med[4]:.1f} | {ratio:.0%} | {med[2]:.2f} / {med[5]:.2f} cores |")
EOF
