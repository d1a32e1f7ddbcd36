"""What every benchmark shares: the generated sites, the server commands, processes in their own group, report headers."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.sitegen import generate
from tests.waiting import poll, wait_until

# tests.server (http.client, urllib) is imported where it is used: `bench build` times its child's start.

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Generated sites and exports, kept for the next run (git-ignored).
WORK = ROOT / "bench" / ".work"
SITE_URL = "https://bench.example.org"  # fixed, so a restart on another port adopts the same snapshot
TOKEN = "bench-rebuild-token"
CONFIG = f"""\
site_url = "{SITE_URL}"
title = "Bench"
description = "A synthetic site."
items_per_feed = 20
scan_interval = 3600

[author]
name = "Bench Author"
email = "bench@example.org"
"""


# --- the sites ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A generated site: ``content/posts/`` (``tests/sitegen.py``'s posts) and ``feeds.toml``."""

    n: int
    folder: Path

    @property
    def content(self) -> Path:
        return self.folder / "content"

    @property
    def posts(self) -> Path:
        return self.content / "posts"

    @property
    def config(self) -> Path:
        return self.folder / "feeds.toml"

    @property
    def edited(self) -> Path:
        """The post the edits touch: the middle one by date (file names start with the date)."""
        return sorted(self.posts.glob("*.md"))[self.n // 2]

    @property
    def edited_url(self) -> str:
        slug = re.sub(r"^\d{4}-\d{2}-\d{2}-", "", self.edited.stem)  # slug = file name without its date prefix
        return f"{SITE_URL}/posts/{slug}/"

    def biggest_tag(self) -> str:
        counts: dict[str, int] = json.loads((self.folder / "tags.json").read_text())
        return max(counts, key=lambda tag: counts[tag])

    @property
    def backup(self) -> Path:
        """Where a post's original waits while a benchmark edits it (so a killed run can be repaired)."""
        return self.folder / ".edit-backup.json"


def site(n: int) -> Site:
    """The N-post site, generated (deterministically) once into ``bench/.work/site-N``; a killed run's edit undone."""
    made = Site(n, WORK / f"site-{n}")
    if made.backup.exists():
        saved = json.loads(made.backup.read_text(encoding="utf-8"))
        Path(saved["path"]).write_text(saved["text"], encoding="utf-8", newline="")
        made.backup.unlink()
    for extra in made.posts.glob("*-bench-added-*.md"):  # bench build's added posts, if it was killed
        extra.unlink()
    if not (made.folder / ".complete").exists():
        shutil.rmtree(made.folder, ignore_errors=True)
        generate(n, made.posts)
        made.config.write_text(CONFIG, encoding="utf-8")
        counts: dict[str, int] = defaultdict(int)
        for post in made.posts.glob("*.md"):  # the generator writes tags as a YAML block list of quoted strings
            front = post.read_text(encoding="utf-8").split("\n---\n", 1)[0]
            for tag in re.findall(r'^  - "(.*)"$', front.split("\ntags:\n", 1)[1], re.M):
                counts[tag] += 1
        (made.folder / "tags.json").write_text(json.dumps(counts, indent=1), encoding="utf-8")
        (made.folder / ".complete").touch()
    return made


def sizes(text: str) -> list[int]:
    """``1000,10000`` → [1000, 10000]."""
    return [int(n) for n in text.split(",")]


# --- the servers ----------------------------------------------------------------------------------


def granian(workers: int, port: int, app: str = "wsgi:app", extra: Iterable[str] = ()) -> list[str]:
    """The production command (``deploy/feeds.service``: granian run by ``feeds.web.preload``), then ``extra`` flags (the last wins)."""
    return [
        sys.executable, "-m", "feeds.web.preload", "--interface", "wsgi", "--workers", str(workers), "--blocking-threads", "4",
        "--host", "127.0.0.1", "--port", str(port), "--http", "1", "--http1-header-read-timeout", "10000",
        "--workers-kill-timeout", "10", "--respawn-failed-workers", *extra, app,
    ]  # fmt: skip


def gunicorn(workers: int, port: int, app: str = "wsgi:app", extra: Iterable[str] = ()) -> list[str]:
    """gunicorn with ``./gunicorn.conf.py`` (no preload, the metrics folder, hooks); flags override it."""
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(workers), "-b", f"127.0.0.1:{port}", *extra, app]


def service_env(s: Site, snapshot_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server of ``s``: no inherited FEEDS_/PROMETHEUS_ values, then the site's and ``settings``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
    environ |= {
        "FEEDS_CONFIG": str(s.config),
        "FEEDS_CONTENT_DIR": str(s.content),
        "FEEDS_SITE_URL": SITE_URL,
        "FEEDS_SNAPSHOT_DIR": str(snapshot_dir),
        "FEEDS_POLL_LIMIT": "0",  # benchmarks poll like no reader would: the per-client limit is not what is measured
        "FEEDS_REBUILD_TOKEN": TOKEN,
        "MALLOC_ARENA_MAX": "2",  # as deploy/feeds.service and deploy/feeds-gunicorn.service set it
    }
    return environ | settings


@dataclass
class Process:
    """A command in its own process group on this machine, its output in ``log``; stopped with its whole group."""

    command: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path = ROOT
    #: The 127.0.0.1 port it listens on, if it is a server.
    port: int = 0
    #: ``time.monotonic()`` just before it was spawned.
    t0: float = 0.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Self:
        with self.log.open("wb") as out:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_up(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers 2xx/3xx; fail (with the log's tail) if the process exits or ``timeout`` passes."""
        from tests.server import answers

        assert self.proc is not None
        wait_until(lambda: answers(url, self.proc, self.log), timeout, f"{url} to answer", detail=self.tail, interval=0.1)  # type: ignore[arg-type]

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM to the process group, wait (then SIGKILL); seconds until the first process exited."""
        if self.proc is None:
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {self.command[0]} did not stop in {timeout:.0f} s; killing its process group", file=sys.stderr)
        elapsed = time.monotonic() - started
        # Workers may outlive the master by a moment; none may outlive the benchmark.
        if not poll(lambda: not group_alive(self.pid), 5.0, interval=0.1):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(5)
        return elapsed

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Server(Process):
    """The service (``wsgi:app`` unless ``app`` says) under ``kind`` (gunicorn or granian) over a generated site, on a free port."""

    def __init__(
        self,
        kind: str,
        s: Site,
        snapshot_dir: Path,
        folder: Path,
        workers: int,
        *,
        app: str = "wsgi:app",
        extra: Iterable[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        from tests.server import free_port

        self.kind, self.site, port = kind, s, free_port()
        make = {"granian": granian, "gunicorn": gunicorn}[kind]
        environ = service_env(s, snapshot_dir, **(env or {}))
        super().__init__(make(workers, port, app, extra), folder / f"{kind}-{port}.log", environ, port=port)

    def workers(self) -> set[int]:
        """The worker pids: the master's descendants (gunicorn and granian fork them directly)."""
        return set(descendants(self.pid)) - {self.pid}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def scratch(prefix: str) -> Path:
    """A fresh temporary folder for one run (server logs, snapshots); readable by nginx's workers."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


# --- processes seen from /proc ----------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])  # fields after "(comm)": state, ppid, …
        parents[ppid].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, ()))
    return found


def memory(root: int) -> dict[int, dict[str, float]]:
    """PSS, USS and RSS in MB of ``root`` and its descendants (``/proc/<pid>/smaps_rollup``)."""
    result = {}
    for pid in descendants(root):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:  # gone meanwhile
            continue
        kb = {}
        for line in lines[1:]:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                kb[key] = int(rest.split()[0])
        result[pid] = {
            "pss": kb.get("Pss", 0) / 1024,
            "uss": (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024,
            "rss": kb.get("Rss", 0) / 1024,
        }
    return result


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and every process below it."""
    total = 0
    for pid in descendants(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# --- reports ------------------------------------------------------------------------------------------


def header(name: str, *more: str) -> str:
    """The first line of a report: which benchmark, the machine, when, how loaded."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [f"# python -m bench {name}", platform.node(), f"{os.cpu_count()} CPUs", f"Python {platform.python_version()}", stamp]
    return " · ".join([*parts, f"load {os.getloadavg()[0]:.1f}", *more])
