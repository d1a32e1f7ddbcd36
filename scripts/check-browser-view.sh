#!/usr/bin/env bash
# Prove that a person opening a feed URL in a real browser sees the styled page:
# start `feeds serve` on a free 127.0.0.1 port, screenshot /feed.xml in headless
# Chromium (which no longer runs XSLT), and check the PNG is not blank.
#
# Usage: scripts/check-browser-view.sh [OUT.png] [PATH]   (defaults: browser-view.png, /feed.xml)
#        scripts/check-browser-view.sh docs/post-page.png /posts/three-layers-of-idempotency/   (a post page)
# Needs Debian's chromium (apt-get install chromium). Not part of `make test`.
set -euo pipefail

out="${1:-browser-view.png}"
path="${2:-/feed.xml}"
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"

chrome="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$chrome" ]]; then
    echo "chromium not found: install it with 'apt-get install chromium' (Debian) and run again" >&2
    exit 2
fi
if [[ ! -x "$python" ]]; then
    echo "no virtualenv at $root/.venv: run 'make test' (or set PYTHON) first" >&2
    exit 2
fi

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$root" && FEEDS_SITE_URL="$base" exec "$python" -m feeds serve --host 127.0.0.1 --port "$port" --content "$root/content") \
    >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    if "$python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$base/healthz" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# What a browser asks for, what it gets: the HTML view (a reader would get RSS).
"$python" - "$base$path" <<'EOF'
import sys, urllib.request
accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
if sys.argv[1].endswith("/"):  # a page (a post's): HTML for everyone
    with urllib.request.urlopen(sys.argv[1]) as r:
        assert r.headers["Content-Type"].startswith("text/html") and b'class="h-entry"' in r.read()
    print(f"page ok: {sys.argv[1]}")
    sys.exit(0)
with urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"Accept": accept})) as r:
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
    assert b"This is a feed" in r.read()
with urllib.request.urlopen(sys.argv[1]) as r:
    assert not r.headers["Content-Type"].startswith("text/html"), "readers must get the feed"
print(f"negotiation ok: {sys.argv[1]}")
EOF

"$chrome" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" --window-size=1200,1600 \
    --screenshot="$out" "$base$path" >"$work/chromium.log" 2>&1 || {
    cat "$work/chromium.log" >&2
    exit 1
}

# Non-trivial: a real PNG of the window size, with many distinct colours (text, the badge).
"$python" - "$out" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
chunks, pos = [], 8
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        chunks.append(data[pos + 8:pos + 8 + length])
    pos += 12 + length
raw = zlib.decompress(b"".join(chunks))
distinct = len(set(raw[i:i + 3] for i in range(0, len(raw), 3)))
assert (width, height) == (1200, 1600), (width, height)
assert len(data) > 20_000 and distinct > 50, f"screenshot looks blank ({len(data)} bytes, {distinct} colours)"
print(f"screenshot ok: {sys.argv[1]} {width}x{height}, {len(data)} bytes, {distinct} distinct byte triples")
EOF
