#!/usr/bin/env bash
# Run deploy/nginx.conf in a real nginx on 127.0.0.1 and compare every URL with the app's answer.
#
# Two passes: nginx over a `feeds build --out` export, then over the live snapshot the running
# app publishes (snapshot_dir/current). For every file in the manifest it compares status, body,
# Content-Type, Last-Modified, Cache-Control and Vary, plain and gzip; then bad queries, unknown
# paths and the proxied /healthz and /metrics. Not part of `make test` (it needs nginx):
#   deploy/check-nginx.sh            # installs nginx with apt-get when missing (as root)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$ROOT/.venv/bin/python
[ -x "$PYTHON" ] || make -C "$ROOT" .venv/.installed >/dev/null
if ! command -v nginx >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "nginx is not installed (apt-get install -y nginx)" >&2; exit 2; }
    apt-get install -y nginx >/dev/null
fi
NGINX=$(command -v nginx)

WORK=$(mktemp -d /tmp/feeds-nginx-XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
APP_PORT=$(port)
NGINX_PORT=$(port)
cp -r "$ROOT/content" "$WORK/content"   # pass 2 edits a post
export FEEDS_CONFIG=$ROOT/feeds.toml
export FEEDS_CONTENT_DIR=$WORK/content
export FEEDS_SCAN_INTERVAL=1
export FEEDS_SITE_URL=http://127.0.0.1:$NGINX_PORT   # the public URL is nginx's
export FEEDS_SNAPSHOT_DIR=$WORK/snapshot

echo "app:   gunicorn on 127.0.0.1:$APP_PORT"
"$ROOT/.venv/bin/gunicorn" -c "$ROOT/gunicorn.conf.py" --chdir "$ROOT" -w 2 -b "127.0.0.1:$APP_PORT" wsgi:app >"$WORK/app.log" 2>&1 &
PIDS+=($!)
"$ROOT/.venv/bin/feeds" build --out "$WORK/export" | sed 's/^/build: /'

wait_for() {  # url: until it answers 200
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    cat "$WORK"/*.log >&2
    exit 1
}
wait_for "http://127.0.0.1:$APP_PORT/healthz"

start_nginx() {  # root folder, name
    mkdir -p "$WORK/$2/logs" "$WORK/$2/tmp"
    chmod 777 "$WORK/$2/tmp"
    sed -e "s#listen 80;#listen 127.0.0.1:$NGINX_PORT;#" \
        -e "s#root /var/lib/feeds/snapshot/current;#root $1;#" \
        -e "s#server 127.0.0.1:8000;#server 127.0.0.1:$APP_PORT;#" \
        -e "s#max-age=60#max-age=$FEEDS_SCAN_INTERVAL#" \
        "$ROOT/deploy/nginx.conf" >"$WORK/$2/feeds.conf"
    cat >"$WORK/$2/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/$2/nginx.pid;
error_log $WORK/$2/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $WORK/$2/tmp/body;
    proxy_temp_path $WORK/$2/tmp/proxy;
    fastcgi_temp_path $WORK/$2/tmp/fastcgi;
    uwsgi_temp_path $WORK/$2/tmp/uwsgi;
    scgi_temp_path $WORK/$2/tmp/scgi;
    include $WORK/$2/feeds.conf;
}
EOF
    "$NGINX" -t -q -p "$WORK/$2" -c "$WORK/$2/nginx.conf"
    "$NGINX" -p "$WORK/$2" -c "$WORK/$2/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_for "http://127.0.0.1:$NGINX_PORT/feed.xml"
}

compare() {  # root folder
    "$PYTHON" - "$1" "$APP_PORT" "$NGINX_PORT" <<'EOF'
import gzip, http.client, json, sys
from pathlib import Path

root, app_port, nginx_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    reply = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return reply

failures, checked = [], 0
def same(path, headers=None, fields=("content-type", "last-modified", "cache-control", "vary", "content-encoding")):
    global checked
    a, n = get(app_port, path, headers), get(nginx_port, path, headers)
    checked += 1
    if a[0] != n[0]:
        failures.append(f"{path} {headers or ''}: status app {a[0]} nginx {n[0]}")
    elif a[0] == 200 and a[2] != n[2]:
        failures.append(f"{path} {headers or ''}: bodies differ ({len(a[2])} vs {len(n[2])} bytes)")
    elif a[0] == 200:
        for field in fields:
            if a[1].get(field) != n[1].get(field):
                failures.append(f"{path} {headers or ''}: {field} app {a[1].get(field)!r} nginx {n[1].get(field)!r}")
    return a, n

files = json.loads((root / "manifest.json").read_text())["files"]
for name, entry in sorted(files.items()):
    url = entry["path"] if entry["page"] == 1 else f"{entry['path']}?page={entry['page']}"
    a, n = same(url)
    same(url, {"Accept-Encoding": "gzip"})
    if entry["path"].endswith(("feed.xml", "atom.xml", "feed.json")):
        same(url, {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})  # the browser view
        same(url, {"Accept": "application/rss+xml, text/html;q=0.1"})  # a reader that mentions HTML
    if n[0] == 200 and n[2] != (root / name).read_bytes():
        failures.append(f"{url}: nginx body is not {name}")
    if n[1].get("etag") == a[1].get("etag"):  # nginx's own ETags are "<mtime>-<size>"
        failures.append(f"{url}: nginx passed it to the app instead of serving {name}")
    if n[0] == 200:
        since = n[1]["last-modified"]
        status = get(nginx_port, url, {"If-Modified-Since": since})[0]
        if status != 304:
            failures.append(f"{url}: nginx answered {status} to If-Modified-Since its own Last-Modified")
        etag = n[1]["etag"]
        if get(nginx_port, url, {"If-None-Match": etag})[0] != 304:
            failures.append(f"{url}: nginx ignored If-None-Match")
for path in ["/feed.xml?page=1", "/feed.xml?page=abc", "/feed.xml?page=0", "/feed.xml?page=99", "/atom.xml?page=01",
             "/tags/go/feed.json?page=9", "/tags/no-such-tag/feed.xml", "/tags/no-such-tag/", "/no/such/file", "/manifest.json",
             "/feed.xml?utm_source=x"]:
    same(path, fields=("content-type",))
health = get(nginx_port, "/healthz")  # per worker (pid, age): compare what must agree
if health[0] != 200 or json.loads(health[2])["version"] != json.loads(get(app_port, "/healthz")[2])["version"]:
    failures.append("/healthz not proxied to the app")
metrics = get(nginx_port, "/metrics")
if metrics[0] != 200 or b"feeds_requests_total" not in metrics[2]:
    failures.append("/metrics not proxied to the app")
print(f"{len(files)} files, {checked} URL comparisons, {len(failures)} differences")
for failure in failures[:40]:
    print("  " + failure)
sys.exit(1 if failures else 0)
EOF
}

status=0
echo "pass 1: nginx over the export ($WORK/export)"
start_nginx "$WORK/export" export
compare "$WORK/export" || status=1
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true

echo "pass 2: nginx over the live snapshot ($FEEDS_SNAPSHOT_DIR/current)"
start_nginx "$FEEDS_SNAPSHOT_DIR/current" live
compare "$FEEDS_SNAPSHOT_DIR/current" || status=1

echo "pass 2, after an edit: nginx serves the new snapshot as soon as the app publishes it"
before=$(curl -fsS "http://127.0.0.1:$APP_PORT/healthz" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["version"])')
post=$(ls "$WORK"/content/*.md | head -1)
sed -i '0,/^title: /s/^title: \(.*\)$/title: "Edited for the nginx check"/' "$post"
for _ in $(seq 100); do
    now=$(curl -fsS "http://127.0.0.1:$APP_PORT/healthz" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["version"])')
    [ "$now" != "$before" ] && break
    sleep 0.1
done
[ "$now" != "$before" ] || { echo "the app did not pick up the edit" >&2; exit 1; }
sleep 0.5  # the followers' poll
curl -fsS "http://127.0.0.1:$NGINX_PORT/feed.xml" | grep -q "Edited for the nginx check" || { echo "nginx serves the old feed" >&2; status=1; }
compare "$FEEDS_SNAPSHOT_DIR/current" || status=1

[ "$status" = 0 ] && echo "OK: nginx serves the app's bytes for every URL" || echo "FAILED" >&2
exit "$status"
