#!/usr/bin/env bash
# Serving benchmark: gunicorn (wsgi:app) against nginx serving `feeds build` output of the same site.
#
#   bench/serve.sh [N] [SECONDS]        # defaults: 10000 posts, 10 s per wrk run
#
# Needs wrk and nginx (Debian: apt-get install -y nginx wrk) and the project venv (make test).
# Both servers listen on 127.0.0.1 only; each wrk run is bounded by SECONDS.
# Env: CONNS (default 50), THREADS (wrk, default 2), WORKERS (both servers, default 2),
#      GUNICORN_ARGS (extra gunicorn flags, e.g. "--worker-class gthread --threads 4"),
#      APP (default wsgi:app; APP=flask_only:app measures the plain Flask path, replay cache off).
set -euo pipefail

N=${1:-10000}
SECONDS_PER_RUN=${2:-10}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
GUNICORN_ARGS=${GUNICORN_ARGS:-}
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

SITE=$("$PY" "$ROOT/bench/build.py" --prepare "$N")
SCRATCH=$(mktemp -d -t feeds-serve-XXXXXX)
chmod 755 "$SCRATCH"  # nginx workers started by root run as nobody
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
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
    cat "$SCRATCH"/nginx/logs/error.log "$SCRATCH"/gunicorn.log >&2 || true
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
PIDS+=($!)

# --- the service under gunicorn -----------------------------------------------------------
APP_PORT=$(free_port)
# --preload: build the snapshot once in the arbiter, before forking the workers.
(cd "$ROOT" && FEEDS_CONFIG="$SITE/feeds.toml" FEEDS_CONTENT_DIR="$SITE/content" FEEDS_LOG_FORMAT=kv \
    exec "$BIN/gunicorn" --preload -w "$WORKERS" -b "127.0.0.1:$APP_PORT" --log-level warning \
    --pythonpath "$ROOT,$ROOT/bench" $GUNICORN_ARGS "$APP") \
    >"$SCRATCH/gunicorn.log" 2>&1 &
PIDS+=($!)

wait_up "http://127.0.0.1:$NGINX_PORT/feed.xml" 30
wait_up "http://127.0.0.1:$APP_PORT/feed.xml" 900

etag() {  # url → the ETag of its gzip representation
    curl -fsS -o /dev/null -D - -H 'Accept-Encoding: gzip' "$1" | tr -d '\r' | awk 'tolower($1)=="etag:" {print $2}'
}

load() {  # url [header] → "req/s p99"
    local out
    if [ $# -gt 1 ]; then
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -H 'Accept-Encoding: gzip' -H "$2" "$1")
    else
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -H 'Accept-Encoding: gzip' "$1")
    fi
    if echo "$out" | grep -q "Non-2xx or 3xx"; then
        echo "bench/serve.sh: errors loading $1:" >&2
        echo "$out" >&2
    fi
    echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}')"
}

TAG_FEED=/tags/go/feed.xml
echo "# $(hostname) · $(nproc) CPUs · $(date -u '+%Y-%m-%d %H:%M UTC') · N=$N · wrk -t$THREADS -c$CONNS -d${SECONDS_PER_RUN}s, gzip accepted"
echo "# gunicorn -w $WORKERS --preload $GUNICORN_ARGS $APP vs nginx (worker_processes $WORKERS, gzip_static)"
echo "| request | gunicorn req/s | p99 | nginx req/s | p99 | ratio |"
echo "|---|---|---|---|---|---|"
for path in /feed.xml "$TAG_FEED"; do
    app_tag=$(etag "http://127.0.0.1:$APP_PORT$path")
    nginx_tag=$(etag "http://127.0.0.1:$NGINX_PORT$path")
    for kind in 200 304; do
        if [ "$kind" = 200 ]; then
            read -r app_rps app_p99 < <(load "http://127.0.0.1:$APP_PORT$path")
            read -r ngx_rps ngx_p99 < <(load "http://127.0.0.1:$NGINX_PORT$path")
        else
            read -r app_rps app_p99 < <(load "http://127.0.0.1:$APP_PORT$path" "If-None-Match: $app_tag")
            read -r ngx_rps ngx_p99 < <(load "http://127.0.0.1:$NGINX_PORT$path" "If-None-Match: $nginx_tag")
        fi
        ratio=$("$PY" -c "print(f'{$app_rps / $ngx_rps:.0%}')")
        echo "| $kind $path | $app_rps | $app_p99 | $ngx_rps | $ngx_p99 | $ratio |"
    done
done
