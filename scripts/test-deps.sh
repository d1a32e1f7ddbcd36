#!/usr/bin/env bash
# Install what some tests need from Debian, when it is missing: a PostgreSQL server (tests/postgres.py
# starts a private cluster from its binaries), Chromium (pages checked in a real browser), nginx (the app and
# a static export behind a real nginx: tests/test_abuse.py, deploy/check-nginx.sh) and curl (the media ranges
# tried through the production server, tests/test_podcast_media.py), newsboat and rss2email (real readers of
# our feeds: scripts/check-clients.sh, run by tests/test_check_scripts.py).
# `make test` and CI run this; as root it installs with apt-get, otherwise it only says what is missing
# (those tests then skip; under CI=true they fail).
set -euo pipefail

need=()
if [ -z "${PG_BINDIR:-}" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    need+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1; then
    need+=(chromium fonts-dejavu-core)
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    need+=(nginx)
fi
if ! command -v curl >/dev/null 2>&1; then
    need+=(curl)
fi
if ! command -v newsboat >/dev/null 2>&1 || ! command -v r2e >/dev/null 2>&1; then
    need+=(newsboat rss2email)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test-deps.sh: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) or their tests skip" >&2
    exit 0
fi
echo "scripts/test-deps.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
