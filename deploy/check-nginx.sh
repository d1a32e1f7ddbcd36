#!/usr/bin/env bash
# Run both nginx configurations in a real nginx on 127.0.0.1 and compare their answers with the app's.
#
#   proxy   deploy/nginx.conf in front of granian (the production command, 2 workers): for every
#           URL in the export's manifest, nginx's answer must be the app's, byte for byte: status,
#           body and every header (in any order) but the server's own (Server, Date, Connection,
#           Keep-Alive). Plain, gzip, HEAD, a browser's Accept, a reader's Accept that mentions
#           HTML, and 304s (If-None-Match with either ETag, If-Modified-Since at and after
#           Last-Modified); then ?page=N and /page/N/ redirects (301, 302), bad queries, unknown paths,
#           /tags/<slug> without its slash, /healthz and /metrics.
#   static  deploy/nginx-static.conf over `feeds build --out` of the same site: for every file in
#           its manifest, nginx sends the file (and its .gz) with the app's Content-Type,
#           Last-Modified, Cache-Control and Content-Encoding, Vary: Accept-Encoding, and answers
#           304 where the app does to If-Modified-Since, and to its own ETag. Its ETags are its own
#           ("<mtime>-<size>"), never the app's: counted, not a difference. A browser gets the feed
#           itself (no browser view). ?page=N, /page/1/, bad queries and unknown paths: the app's
#           status, Content-Type and (resolved) Location.
# The site is the sample content plus a post with a non-ASCII tag, at 5 items per feed so that
# feeds have older pages. Prints a summary with counts; exits 1 on any difference.
# Run by tests/test_check_scripts.py in `make test` (which installs nginx); by hand:
#   deploy/check-nginx.sh            # installs nginx with apt-get when missing (as root)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/.venv/bin
[ -x "$BIN/granian" ] || make -C "$ROOT" .venv/.installed >/dev/null
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    [ "$(id -u)" = 0 ] || { echo "nginx is not installed (apt-get install -y nginx)" >&2; exit 2; }
    apt-get install -y nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/feeds-nginx-XXXXXX)
chmod 755 "$WORK"  # nginx workers started by root run as nobody
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
APP_PORT=$(port)
PROXY_PORT=$(port)
STATIC_PORT=$(port)

cp -rL "$ROOT/content" "$WORK/content"
cat >"$WORK/content/2026-06-01-unicode-tag.md" <<'EOF'
---
title: "A tag that is not ASCII"
date: 2026-06-01
summary: "Its feeds live under a percent-encoded path."
tags: [Café, Engineering Culture]
---
Paths such as `/tags/café/feed.xml` go through nginx percent-encoded.
EOF
export FEEDS_CONFIG=$ROOT/feeds.toml
export FEEDS_CONTENT_DIR=$WORK/content
export FEEDS_ITEMS_PER_FEED=5
export FEEDS_SITE_URL=http://127.0.0.1:$PROXY_PORT   # the public URL is nginx's
export FEEDS_SNAPSHOT_DIR=$WORK/snapshot
export PROMETHEUS_MULTIPROC_DIR=$WORK/metrics
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
SCAN_INTERVAL=$("$BIN/python" -c 'from feeds.config import load_config; print(load_config().scan_interval)')

"$BIN/feeds" build --out "$WORK/export" 2>/dev/null | sed 's/^/build: /'
# The command of deploy/feeds.service, with 2 workers.
GRANIAN=(granian --interface wsgi --workers 2 --blocking-threads 4 --host 127.0.0.1 --port "$APP_PORT" --http 1
         --http1-header-read-timeout 10000 --workers-kill-timeout 10 --respawn-failed-workers wsgi:app)
echo "app:   ${GRANIAN[*]}"
(cd "$ROOT" && exec "$BIN/${GRANIAN[0]}" "${GRANIAN[@]:1}") >"$WORK/app.log" 2>&1 &
PIDS+=($!)

wait_for() {  # url: until it answers 200
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    cat "$WORK"/*.log "$WORK"/*/logs/error.log >&2 2>/dev/null || true
    exit 1
}

start_nginx() {  # conf name port: deploy/<conf> on 127.0.0.1:<port>, in $WORK/<name>
    local dir=$WORK/$2
    mkdir -p "$dir/logs" "$dir/tmp"
    chmod 777 "$dir/tmp"
    sed -e "s#listen 80;#listen 127.0.0.1:$3;#" \
        -e "s#root /var/lib/feeds/export;#root $WORK/export;#" \
        -e "s#include \( *\)/var/lib/feeds/export/#include \1$WORK/export/#" \
        -e "s#server 127.0.0.1:8000;#server 127.0.0.1:$APP_PORT;#" \
        -e "s#max-age=60#max-age=$SCAN_INTERVAL#" \
        -e "s#default  60;#default  $SCAN_INTERVAL;#" \
        "$ROOT/deploy/$1" >"$dir/feeds.conf"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/feeds.conf;
}
EOF
    "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$3/feed.xml"
}

wait_for "http://127.0.0.1:$APP_PORT/feed.xml"
start_nginx nginx.conf proxy "$PROXY_PORT"
echo "proxy: nginx with deploy/nginx.conf on 127.0.0.1:$PROXY_PORT"
start_nginx nginx-static.conf static "$STATIC_PORT"
echo "static: nginx with deploy/nginx-static.conf on 127.0.0.1:$STATIC_PORT over $WORK/export"

"$BIN/python" - "$WORK/export" "$APP_PORT" "$PROXY_PORT" "$STATIC_PORT" <<'EOF'
import http.client
import json
import sys
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

export, app_port, proxy_port, static_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
SERVER_OWN = {"server", "date", "connection", "keep-alive"}
FEEDS = ("feed.xml", "atom.xml", "feed.json")
GZIP = {"Accept-Encoding": "gzip"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Encoding": "gzip, deflate, br"}
READER = {"Accept": "application/rss+xml, application/atom+xml, text/html;q=0.1"}


def get(port, path, headers=None, method="GET"):
    """Status, headers (lower-case names, in order, the server's own left out) and the raw body."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, [(k.lower(), v) for k, v in r.getheaders() if k.lower() not in SERVER_OWN], r.read()
    finally:
        c.close()


def later(http_date):
    """The HTTP date one hour after ``http_date``: a client's copy newer than the file still gets 304."""
    return formatdate(parsedate_to_datetime(http_date).timestamp() + 3600, usegmt=True)


def header(reply, name):
    values = [v for k, v in reply[1] if k == name]
    return ", ".join(values) if values else None


class Check:
    def __init__(self, mode):
        self.mode, self.requests, self.differences = mode, 0, []

    def differ(self, what):
        self.differences.append(what)

    def report(self, extra=""):
        print(f"{self.mode}: {self.requests} comparisons{extra}, {len(self.differences)} differences")
        for d in self.differences[:40]:
            print("  " + d)


manifest = json.loads((export / "manifest.json").read_text())
files = manifest["files"]
urls = {name: quote(entry["path"]) for name, entry in files.items()}
feeds = [name for name in files if name.rsplit("/", 1)[-1] in FEEDS]


def page_query(name):
    """/tags/go/page/2/feed.xml -> /tags/go/feed.xml?page=2 (the form old links have)."""
    parts = urls[name].split("/")
    if len(parts) >= 4 and parts[-3] == "page":
        return "/".join(parts[:-3] + [parts[-1]]) + "?page=" + parts[-2]
    return None


old_links = [q for q in map(page_query, feeds) if q]
# The old /page/N/ URLs (302 to the archive holding their newest post), from the export's map.
old_links += [line.split('"')[1] for line in (export / "pages.map").read_text().splitlines() if line.startswith('"')]
site_feeds = [urls[n] for n in feeds if "/page/" not in urls[n]]
ODD = ["/feed.xml?page=1", "/feed.xml?page=01", "/page/1/atom.xml", "/tags/go/page/1/feed.json?page=3",
       "/feed.xml?page=abc", "/feed.xml?page=0", "/feed.xml?page=", "/feed.xml?page", "/feed.xml?page=-1",
       "/feed.xml?page=99", "/feed.xml?page=0000000000002", "/atom.xml?utm_source=x", "/feed.xml?PAGE=2",
       "/feed.xml?x=1&page=2", "/tags/no-such-tag/feed.xml", "/tags/no-such-tag/feed.xml?page=2",
       "/tags/no-such-tag/feed.xml?page=abc", "/tags/no-such-tag/", "/tags/go", "/tags/go/?page=2",
       "/page/01/feed.xml", "/page/2/", "/no/such/file", "/manifest.json", "/index.html", "/feed.xml.gz",
       "/tags/go/feed.xml/", "/x/feed.xml", "/tags/caf%C3%A9", "/tags/caf%C3%A9/atom.xml?page=1", "/tags/caf%C3%A9/page/1/feed.xml"]

# --- proxy: nginx.conf in front of the app, every answer the app's own ------------------------
proxy = Check("proxy")


def same(path, headers=None, method="GET"):
    headers = {"Host": f"127.0.0.1:{proxy_port}", **(headers or {})}  # the app sees the public host, as nginx passes it
    a, n = get(app_port, path, headers, method), get(proxy_port, path, headers, method)
    del headers["Host"]
    proxy.requests += 1
    label = f"{method} {path} {headers or ''}"
    if a[0] != n[0]:
        proxy.differ(f"{label}: status app {a[0]} nginx {n[0]}")
    elif a[2] != n[2]:
        proxy.differ(f"{label}: bodies differ ({len(a[2])} vs {len(n[2])} bytes)")
    elif sorted(a[1]) != sorted(n[1]):  # nginx writes Content-Type and Content-Length first: order aside, the same
        only_app, only_nginx = sorted(set(a[1]) - set(n[1])), sorted(set(n[1]) - set(a[1]))
        proxy.differ(f"{label}: headers only from the app {only_app}, only from nginx {only_nginx}")
    return a


for name in sorted(files):
    url = urls[name]
    plain, gz = same(url), same(url, GZIP)
    same(url, method="HEAD")
    same(url, GZIP, method="HEAD")
    if name.rsplit("/", 1)[-1] in FEEDS:
        same(url, BROWSER)
        same(url, READER)
    for reply in (plain, gz):
        same(url, {**GZIP, "If-None-Match": header(reply, "etag")})
    same(url, {"If-Modified-Since": header(plain, "last-modified")})
    same(url, {"If-Modified-Since": later(header(plain, "last-modified"))})
for path in old_links + ODD:
    same(path)
health = [get(port, "/healthz") for port in (app_port, proxy_port)]
proxy.requests += 1
a, n = (json.loads(reply[2]) for reply in health)  # pid and ages are per worker: compare what must agree
if health[1][0] != health[0][0] or sorted(a) != sorted(n) or (a["version"], a["status"]) != (n["version"], n["status"]):
    proxy.differ(f"/healthz: app {health[0][0]} {a} nginx {health[1][0]} {n}")
metrics = get(proxy_port, "/metrics")
proxy.requests += 1
if metrics[0] != 200 or b"feeds_requests_total" not in metrics[2]:
    proxy.differ(f"/metrics through nginx: {metrics[0]}")
proxy.report(f" over {len(files)} files and {len(old_links) + len(ODD)} other URLs")

# --- static: nginx-static.conf over the export, the app's bytes and caching headers ----------------
static = Check("static")
SAME = ("content-type", "last-modified", "cache-control", "content-encoding")
MEDIA = ("content-security-policy", "accept-ranges", "content-length")
own_etags = 0


def compare(label, a, n, fields=SAME):
    static.requests += 1
    if a[0] != n[0]:
        static.differ(f"{label}: status app {a[0]} nginx {n[0]}")
        return
    if a[0] == 200 and a[2] != n[2]:
        static.differ(f"{label}: bodies differ ({len(a[2])} vs {len(n[2])} bytes)")
    for field in fields:
        if header(a, field) != header(n, field):
            static.differ(f"{label}: {field} app {header(a, field)!r} nginx {header(n, field)!r}")


for name in sorted(files):
    url = urls[name]
    medium = "gzip_size" not in files[name]  # the media folder's files: sent as they are, never gzipped
    for headers, suffix in (({}, ""),) if medium else (({}, ""), (GZIP, ".gz")):
        a, n = get(app_port, url, headers), get(static_port, url, headers)
        compare(f"{url} {headers or ''}", a, n, SAME + MEDIA if medium else SAME)
        if n[2] != (export / (name + suffix)).read_bytes():
            static.differ(f"{url} {headers or ''}: nginx did not send {name + suffix}")
        if header(n, "vary") != (None if medium else "Accept-Encoding") or header(n, "x-content-type-options") != "nosniff":
            static.differ(f"{url}: Vary {header(n, 'vary')!r}, X-Content-Type-Options {header(n, 'x-content-type-options')!r}")
        if medium:  # byte ranges as the app answers them: one range, a suffix, one past the end, two
            size = len(n[2])
            for wanted in (f"bytes=1-{max(size // 2, 1)}", "bytes=-5", f"bytes={size}-", "bytes=0-1,4-5"):
                a, n = get(app_port, url, {"Range": wanted}), get(static_port, url, {"Range": wanted})
                compare(f"{url} Range {wanted}", a, n, ("content-range",) if a[0] != 206 or "," not in wanted else ())
                if a[0] != 206 or "," not in wanted:  # multipart bodies differ in their boundary only
                    static.requests += 1
                    if a[0] == 206 and a[2] != n[2]:
                        static.differ(f"{url} Range {wanted}: bodies differ")
        if header(n, "etag") != header(a, "etag"):
            own_etags += 1
        # 304: to the app's Last-Modified as to the app, and to nginx's own ETag.
        for since in (header(a, "last-modified"), later(header(a, "last-modified"))):
            asked = {**headers, "If-Modified-Since": since}
            compare(f"{url} If-Modified-Since {since}", get(app_port, url, asked), get(static_port, url, asked), ())
        static.requests += 1
        if header(n, "etag") is None:
            static.differ(f"{url} {headers or ''}: nginx {n[0]} without an ETag")
        elif get(static_port, url, {**headers, "If-None-Match": header(n, "etag")})[0] != 304:
            static.differ(f"{url}: nginx ignored its own ETag in If-None-Match")
    if name.rsplit("/", 1)[-1] in FEEDS:  # no browser view: a browser gets the feed as it is
        static.requests += 1
        n = get(static_port, url, BROWSER)
        if n[0] != 200 or n[2] != (export / (name + ".gz")).read_bytes() or not header(n, "content-type").startswith("application/"):
            static.differ(f"{url} (browser): {n[0]} {header(n, 'content-type')}")
for path in old_links + ODD:
    a, n = get(app_port, path), get(static_port, path)
    compare(path, a, n, ("content-type",) if a[0] >= 400 else ("cache-control",) if a[0] in (301, 302, 308) else SAME)
    if a[0] in (301, 302, 308):  # the app's Location is absolute (site_url), nginx's a path: the same place
        want, got = urlsplit(header(a, "location")).path, urlsplit(urljoin(path, header(n, "location") or "")).path
        if want != got:
            static.differ(f"{path}: Location app {header(a, 'location')!r} nginx {header(n, 'location')!r}")
static.report(f" over {len(files)} files and {len(old_links) + len(ODD)} other URLs; "
              f"{own_etags} nginx ETags (its own, as expected) unlike the app's")

failed = proxy.differences or static.differences
print("FAILED" if failed else "OK: nginx answers as the app does in both modes")
sys.exit(1 if failed else 0)
EOF
