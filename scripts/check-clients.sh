#!/usr/bin/env bash
# Read our feeds with two real consumers from Debian, as a new user would:
# newsboat (a terminal feed reader) and rss2email (feeds to mail, here a local Maildir).
#
# Starts `feeds serve` (the .venv that `make test` creates) on a free 127.0.0.1 port over a
# temporary copy of content/ plus a post titled with & < > and quotes, tagged 日本語 and café.
# Round 1: both clients read /feed.xml, /atom.xml and the two tag feeds. Round 2, nothing
# changed: newsboat must get 304s. Round 3: a post's body is edited (its front matter, so
# `updated`, untouched) and a backdated post is added; both clients must see both.
# Prints PASS/FAIL per check and a summary; exits 1 if any check failed.
#
# Usage: scripts/check-clients.sh        (installs newsboat and rss2email with apt-get when missing)
# Run by tests/test_check_scripts.py in `make test` (which installs both). Only 127.0.0.1 is contacted.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
    echo "no virtualenv at $root/.venv: run 'make test' (or set PYTHON) first" >&2
    exit 2
fi
if ! command -v newsboat >/dev/null || ! command -v r2e >/dev/null; then
    echo "installing newsboat and rss2email with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq newsboat rss2email >/dev/null
fi

work="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    if [[ -n "${KEEP:-}" ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
token="check-clients"
title='Tags & <b>bold</b> "quoted" it'"'"'s'
# How newsboat shows it: a title holding an end tag is sent in RSS as escaped HTML, and newsboat takes
# RSS titles as plain text (newsboat#202): the documented trade-off of docs/standards.md "Titles".
escaped_title='Tags &amp; &lt;b&gt;bold&lt;/b&gt; "quoted" it'"'"'s'
# A title with & and < but no end tag or entity: plain text in every format, shown as typed everywhere.
plain_title='Fish & chips, 1 < 2'
edited="2026-05-02-three-layers-of-idempotency.md"
edited_title="Three Layers of Idempotency"
backdated_title="Written last, dated earlier"
marker="Edited after the first read"
tag_ja="$base/tags/%E6%97%A5%E6%9C%AC%E8%AA%9E/feed.xml"
tag_cafe="$base/tags/caf%C3%A9/feed.xml"

cp -r "$root/content" "$work/content"
"$python" - "$work/content/2026-05-12-unicode-tags.md" "$title" <<'EOF'
import sys
path, title = sys.argv[1], sys.argv[2]
quoted = title.replace("'", "''")  # YAML single quotes
open(path, "w", encoding="utf-8").write(f"---\ntitle: '{quoted}'\ntags: [日本語, café]\n---\nTagged in two scripts.\n")
EOF
printf '%s\n' '---' "title: '$plain_title'" 'date: 2026-05-11' 'tags: [Go]' '---' 'Plain text.' \
    >"$work/content/2026-05-11-fish-and-chips.md"
# A note in a section, by an author with an email (issue 19: author and section feeds, names not addresses).
mkdir -p "$work/content/notes"
printf '%s\n' '---' 'title: A note by Ana' 'date: 2026-05-13' 'authors: [{name: Ana Lima, email: ana@example.com}]' '---' \
    'A note in the notes section.' >"$work/content/notes/2026-05-13-a-note-by-ana.md"
cat >"$work/feeds.toml" <<EOF
site_url = "$base"
title = "Client Check"
timezone = "UTC"
items_per_feed = 50
scan_interval = 3600
rebuild_token = "$token"
EOF

(cd "$work" && exec "$python" -m feeds serve --host 127.0.0.1 --port "$port" --content "$work/content" --config "$work/feeds.toml") \
    >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 150); do
    if "$python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$base/healthz" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
"$python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$base/healthz" || {
    echo "feeds serve did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
}

# --- helpers -------------------------------------------------------------------------------

results="$work/results"
: >"$results"
check() { # check NAME STATUS DETAIL [WHY]: record one result (PASS, FAIL, or KNOWN: a documented limit of the client, WHY)
    local detail="$3"
    [[ "$2" != PASS && -n "${4:-}" ]] && detail="$detail -- $4"
    printf '%s\t%s\t%s\n' "$2" "$1" "$detail" >>"$results"
    printf '%-4s  %s  %s\n' "$2" "$1" "$detail"
}

rebuild() {
    "$python" - "$base/-/rebuild" "$token" <<'EOF'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], method="POST", headers={"Authorization": f"Bearer {sys.argv[2]}"})
with urllib.request.urlopen(request, timeout=30) as response:
    assert response.status == 200, response.status
EOF
}

metrics() { # feed answers so far by format and status, as "rss 200 3" lines
    "$python" - "$base/metrics" <<'EOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        if s.name == "feeds_requests_total" and s.labels["route"] == "feed":
            print(s.labels["format"], s.labels["status"], int(s.value))
EOF
}

delta() { # delta BEFORE AFTER FORMAT STATUS: how many more such answers AFTER counts
    local b a
    b="$(awk -v f="$3" -v s="$4" '$1 == f && $2 == s {print $3}' <<<"$1")"
    a="$(awk -v f="$3" -v s="$4" '$1 == f && $2 == s {print $3}' <<<"$2")"
    echo $(( ${a:-0} - ${b:-0} ))
}

published_posts() {
    "$python" -c "import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1], timeout=10))['posts'])" "$base/healthz"
}

# --- newsboat ------------------------------------------------------------------------------
# One newsboat (own cache) per feed, as a user subscribed to that feed: newsboat keeps one
# item per guid across all its feeds, and RSS, Atom and tag feeds share each post's id.

feeds=("$base/feed.xml" "$base/atom.xml" "$tag_cafe" "$tag_ja" "$base/authors/ana-lima/feed.xml" "$base/sections/notes/atom.xml")
nb="$work/newsboat"

newsboat_reload() { # newsboat_reload N: reload feed N with its own urls file, cache and config
    local dir="$nb/$1"
    if [[ ! -d "$dir" ]]; then
        mkdir -p "$dir"
        echo "${feeds[$1]}" >"$dir/urls"
        printf '%s\n' "download-timeout 5" "download-retries 1" >"$dir/config"
    fi
    # HOME and XDG folders inside $work: newsboat writes nothing outside it.
    HOME="$dir" XDG_CONFIG_HOME="$dir" XDG_DATA_HOME="$dir" \
        timeout 60 newsboat -u "$dir/urls" -c "$dir/cache.db" -C "$dir/config" -x reload >>"$dir/run.log" 2>&1 ||
        echo "newsboat exit $?" >>"$dir/run.log"
}

newsboat_items() { # newsboat_items N: "title<TAB>marker|-" per item in feed N's cache
    "$python" - "$nb/$1/cache.db" "$marker" <<'EOF'
import os, sqlite3, sys
db, marker = sys.argv[1:]
if os.path.exists(db):
    with sqlite3.connect(db) as c:
        for title, content, author in c.execute("select title, content, author from rss_item"):
            print(f"{title}\t{'marker' if marker in (content or '') else '-'}\t{author}")
EOF
}

posts="$(published_posts)"
for n in 0 1 2 3; do newsboat_reload "$n"; done
for n in 0 1; do
    items="$(newsboat_items "$n")"
    count="$(grep -c . <<<"$items" || true)"
    [[ "$count" == "$posts" ]] && status=PASS || status=FAIL
    check "newsboat: ${feeds[$n]} has every post" "$status" "$count of $posts items"
    shown="$(grep -F 'Tags' <<<"$items" | cut -f1 | head -1)"
    status=FAIL
    [[ "$shown" == "$escaped_title" && "${feeds[$n]}" == *.xml && "${feeds[$n]}" != *atom.xml ]] && status=KNOWN
    [[ "$shown" == "$title" ]] && status=PASS
    check "newsboat: ${feeds[$n]} shows the title holding </b> as typed" "$status" "expected [$title]; newsboat has [$shown]" \
        "newsboat takes RSS titles as plain text (newsboat#202); docs/standards.md, Titles"
    [[ -n "$(grep -xF "$plain_title" <(cut -f1 <<<"$items") || true)" ]] && status=PASS || status=FAIL
    check "newsboat: ${feeds[$n]} shows a title with & and < as typed" "$status" \
        "expected [$plain_title]; newsboat has [$(grep -F 'Fish' <<<"$items" | cut -f1 | head -1)]"
done
for n in 2 3; do
    items="$(newsboat_items "$n")"
    shown="$(cut -f1 <<<"$items")"
    status=FAIL
    [[ "$shown" == "$escaped_title" ]] && status=PASS  # the one post of the tag, its title as above
    [[ "$shown" == "$title" ]] && status=PASS
    check "newsboat: tag feed ${feeds[$n]} holds its one post" "$status" "items: [$(paste -sd '|' <<<"$shown")]"
done

for n in 4 5; do
    newsboat_reload "$n"
    items="$(newsboat_items "$n")"
    [[ "$items" == $'A note by Ana\t-\tAna Lima' ]] && status=PASS || status=FAIL
    check "newsboat: ${feeds[$n]} shows the author's name" "$status" "items: [$(paste -sd '|' <<<"$items")]"
done

# newsboat 2.21 stores a new feed's ETag and Last-Modified only from its second fetch: reload
# once more, then once with nothing changed, which must be conditional and answered 304.
for n in 0 1; do newsboat_reload "$n"; done
before="$(metrics)"
for n in 0 1; do newsboat_reload "$n"; done
after="$(metrics)"
for format in rss atom; do
    not_modified="$(delta "$before" "$after" "$format" 304)"
    ok="$(delta "$before" "$after" "$format" 200)"
    (( not_modified == 1 && ok == 0 )) && status=PASS || status=FAIL
    check "newsboat: unchanged $format feed answered 304" "$status" "304s +$not_modified, 200s +$ok"
done

# --- rss2email (round 1) ---------------------------------------------------------------------

r2="$work/rss2email"
mkdir -p "$r2/Maildir"
r2e_cmd() {
    HOME="$r2" XDG_CONFIG_HOME="$r2" XDG_DATA_HOME="$r2" timeout 120 r2e -c "$r2/r2e.cfg" -d "$r2/r2e.json" "$@" >>"$r2/run.log" 2>&1 || {
        echo "r2e $1 failed ($?):" >&2
        cat "$r2/run.log" >&2
        return 1
    }
}
r2e_cmd new reader@example.com
sed -i -e 's|^email-protocol = .*|email-protocol = maildir|' -e "s|^maildir-path = .*|maildir-path = $r2/Maildir|" \
    -e 's|^maildir-mailbox = .*|maildir-mailbox = INBOX|' -e 's|^reply-changes = .*|reply-changes = True|' "$r2/r2e.cfg"
r2e_cmd add site "$base/feed.xml"
r2e_cmd add site-atom "$base/atom.xml"
r2e_cmd add cafe "$tag_cafe"
r2e_cmd run

r2e_mails() { # "feed URL<TAB>decoded Subject<TAB>marker|-" for every mail in the Maildir, which is emptied
    "$python" - "$r2/Maildir/INBOX" "$marker" <<'EOF'
import mailbox, sys
from email.header import decode_header, make_header
box, marker = mailbox.Maildir(sys.argv[1], create=False), sys.argv[2]
for key, message in list(box.items()):
    body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    print(f"{message['X-RSS-Feed']}\t{make_header(decode_header(message['Subject']))}\t{'marker' if marker in body else '-'}")
    box.discard(key)
EOF
}

expected_titles() { # the titles as typed, from the JSON Feed (no XML escaping involved)
    "$python" -c "import json, sys, urllib.request; [print(i['title']) for i in json.load(urllib.request.urlopen(sys.argv[1], timeout=10))['items']]" \
        "$base/feed.json"
}

mails="$(r2e_mails)"
expected="$(expected_titles)"
for url in "$base/feed.xml" "$base/atom.xml" "$tag_cafe"; do
    [[ "$url" == "$tag_cafe" ]] && wanted="$title" || wanted="$expected"
    got="$(awk -F'\t' -v u="$url" '$1 == u' <<<"$mails" | cut -f2)"
    [[ "$(sort <<<"$got")" == "$(sort <<<"$wanted")" ]] && status=PASS || status=FAIL
    unexpected="$(sort <<<"$got" | comm -23 - <(sort <<<"$wanted") | paste -sd '|')"
    check "rss2email: $url mails each post once, subject = title as typed" "$status" \
        "$(grep -c . <<<"$got") mails for $(grep -c . <<<"$wanted") posts; subjects that are no title: [$unexpected]" \
        "title escaping: feedparser reads an RSS <title> holding markup as HTML"
done

# --- round 3: an edit without `updated`, and a backdated post --------------------------------

"$python" - "$work/content/$edited" "$marker" <<'EOF'
import sys
path, marker = sys.argv[1:]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text + f"\n{marker}.\n")
EOF
cat >"$work/content/2026-05-03-written-last-dated-earlier.md" <<EOF
---
title: $backdated_title
date: 2026-05-03T12:00:00Z
tags: [Go]
---
A backdated post.
EOF
rebuild

before="$(metrics)"
for n in 0 1; do newsboat_reload "$n"; done
after="$(metrics)"
answers="rss 200 +$(delta "$before" "$after" rss 200) 304 +$(delta "$before" "$after" rss 304), atom 200 +$(delta "$before" "$after" atom 200) 304 +$(delta "$before" "$after" atom 304)"
# libcurl (newsboat sends If-Modified-Since through CURLOPT_TIMECONDITION) discards a 200 whose
# Last-Modified is not newer than that date, yet newsboat keeps the new ETag it came with.
why="Last-Modified did not advance, so libcurl dropped the 200 as not modified"
for n in 0 1; do
    items="$(newsboat_items "$n")"
    grep -qxF "$edited_title	marker" <(cut -f1,2 <<<"$items") && status=PASS || status=FAIL
    check "newsboat: ${feeds[$n]} shows the body edit" "$status" "server answered $answers" "$why"
    grep -qF "$backdated_title" <<<"$items" && status=PASS || status=FAIL
    check "newsboat: ${feeds[$n]} has the backdated post" "$status" "$(grep -c . <<<"$items") items" "$why"
done

r2e_cmd run
round3="$(r2e_mails | cut -f2-)"
new_subjects="new mails: [$(cut -f1 <<<"$round3" | paste -sd '|')]"
[[ "$(grep -cxF "$backdated_title	-" <<<"$round3" || true)" == 2 ]] && status=PASS || status=FAIL
check "rss2email: the backdated post is mailed (RSS and Atom)" "$status" "$new_subjects"
[[ "$(grep -cxF "$edited_title	marker" <<<"$round3" || true)" == 2 ]] && status=PASS || status=FAIL
check "rss2email: the body edit is mailed again with the new text (reply-changes)" "$status" "$new_subjects"

# --- summary -------------------------------------------------------------------------------

passed="$(grep -c '^PASS' "$results" || true)"
failed="$(grep -c '^FAIL' "$results" || true)"
known="$(grep -c '^KNOWN' "$results" || true)"
echo
echo "newsboat $(newsboat -v | head -1 | cut -d' ' -f2), rss2email $(r2e --version 2>&1 | awk '{print $2}'), feeds at $base"
echo "$passed passed, $failed failed, $known known limits of the clients (documented)"
if (( failed > 0 )); then
    echo "FAIL"
    grep '^FAIL' "$results" | cut -f2 | sed 's/^/  - /'
    exit 1
fi
echo "PASS"
