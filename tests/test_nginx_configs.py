"""deploy/nginx.conf and deploy/nginx-static.conf in a real nginx, answer for answer against the app.

The comparison is deploy/check-nginx.sh's (the production command behind nginx.conf; a
``feeds build --out`` export behind nginx-static.conf: every file, its .gz, 304s, the old page
URLs of pages.map, the media folder's types and byte ranges); this test runs it so that a change
to the app or to either configuration cannot leave the other behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_nginx_answers_as_the_app_does_in_front_of_it_and_over_an_export() -> None:
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        pytest.skip("nginx is not installed (make test-deps installs it)")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(ROOT / "deploy" / "check-nginx.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "proxy: " in report and "static: " in report and ", 0 differences" in report, report
    assert "OK: nginx answers as the app does in both modes" in report, report
