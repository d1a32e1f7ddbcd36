"""The production command preloads the libraries in granian's main process (``feeds.web.preload``), never this project.

So the workers fork with the libraries' pages shared, and each imports this project's
code from disk itself (a reload loads new code); nothing that belongs to one worker (a
thread, a lock, a counter file) is made before the fork.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, SAMPLE, SITE_CONFIG
from .production import Production
from .waiting import wait_until

CHECK = """
import json, os, sys, threading
from feeds.web.preload import preload
kept = preload()
print(json.dumps({
    "kept": kept,
    "modules": sorted(sys.modules),
    "threads": threading.active_count(),
    "files": sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])),
    "pid": os.getpid(),
}))
"""


def test_preload_keeps_the_libraries_and_forgets_this_projects_modules(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    found = json.loads(out.stdout)
    for library in ("flask", "werkzeug", "jinja2", "sqlalchemy", "prometheus_client", "msgspec"):
        assert library in found["kept"] and library in found["modules"]
    assert not [name for name in found["modules"] if name.split(".")[0] in ("feeds", "wsgi")]
    assert found["threads"] == 1
    # prometheus-client's multiprocess mode made counter files for the main process's imports: removed (it never counts)
    assert not [name for name in found["files"] if name.endswith(f"_{found['pid']}.db")]


def test_the_production_commands_main_process_holds_the_libraries_and_its_workers_serve(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, tmp_path / "content")
    (tmp_path / "feeds.toml").write_text(SITE_CONFIG, encoding="utf-8")
    with Production(tmp_path / "content", tmp_path / "feeds.toml", env={"FEEDS_SNAPSHOT_DIR": str(tmp_path / "snapshot")}) as server:
        wait_until(server.started, 60.0, "both workers up")
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        # Extension modules of libraries the app imports: mapped in granian's main process, so loaded before the fork.
        assert "/sqlalchemy/" in maps and "/markupsafe/" in maps and "/msgspec/" in maps
        assert wait_until(lambda: server.health().get("complete") is True, 60.0, "the complete snapshot")
        assert server.request("/feed.xml").status == 200
