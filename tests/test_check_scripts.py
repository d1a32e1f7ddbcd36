"""The check scripts of deploy/ and scripts/, run in the test suite so that neither side can leave the other behind.

- deploy/check-nginx.sh: deploy/nginx.conf in front of the production command, and
  deploy/nginx-static.conf over a ``feeds build --out`` export, in a real nginx, compared answer
  for answer with the app (every file, its .gz, 304s, the old page URLs of pages.map, the media
  folder's types and byte ranges).
- scripts/check-clients.sh: newsboat and rss2email from Debian reading our feeds as a user
  would (every post, titles as typed, non-ASCII tag feeds, 304s, an edit and a backdated post
  seen); a documented limit of a client is reported as KNOWN, anything else fails.

The programs come from Debian (scripts/test-deps.sh, run by ``make test``); without them these
tests skip, and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _need(*programs: str) -> None:
    missing = [p for p in programs if not (shutil.which(p) or os.access(f"/usr/sbin/{p}", os.X_OK))]
    if missing:
        message = f"not installed: {', '.join(missing)} (`make test-deps` as root installs them from Debian)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _run(script: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(ROOT / script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    return report


def test_nginx_answers_as_the_app_does_in_front_of_it_and_over_an_export() -> None:
    _need("nginx")
    report = _run("deploy/check-nginx.sh")
    assert "proxy: " in report and "static: " in report and report.count(", 0 differences") == 2, report
    assert "OK: nginx answers as the app does in both modes" in report, report


def test_newsboat_and_rss2email_read_our_feeds_as_a_user_would() -> None:
    _need("newsboat", "r2e")
    report = _run("scripts/check-clients.sh")
    assert " 0 failed," in report and report.rstrip().endswith("PASS"), report
    # Every check ran: a check that silently stopped running would not count as failed.
    assert sum(line.startswith(("PASS", "KNOWN")) for line in report.splitlines()) >= 20, report
