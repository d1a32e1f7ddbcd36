"""The production command for the tests: granian with the flags ``deploy/feeds.service`` gives it, read from that file.

So a test of stopping, a full disk or a removed snapshot folder runs exactly what
systemd runs (the kill timeout, the blocking threads, HTTP/1), on a free port of
127.0.0.1 with two workers, and sends SIGTERM to the main process only, as
``KillMode=mixed`` does.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from .server import ROOT, WsgiServer

UNIT = ROOT / "deploy" / "feeds.service"


def unit_argv(workers: int, port: int) -> list[str]:
    """The unit's ExecStart after its Python (``-m feeds.web.preload``, granian's flags, ``wsgi:app``), with
    ``workers`` workers on 127.0.0.1:``port``."""
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    (command,) = re.findall(r"^ExecStart=/bin/sh -c '(.*)'$", text, re.M)
    words = shlex.split(command.replace("$$", "$"))
    argv = words[words.index(next(w for w in words if w.endswith("/python"))) + 1 :]
    values = {"--workers": str(workers), "--host": "127.0.0.1", "--port": str(port)}
    return [values.get(argv[i - 1], word) if i else word for i, word in enumerate(argv)]


def granian_flags(workers: int, port: int) -> list[str]:
    """The granian arguments of the unit's ExecStart, with ``workers`` workers on 127.0.0.1:``port``."""
    argv = unit_argv(workers, port)
    return argv[argv.index("feeds.web.preload") + 1 :]


class Production(WsgiServer):
    """``granian`` as deploy/feeds.service runs it (two workers), with per-worker counters summed as there."""

    def __init__(self, content: Path, config: Path, env: dict[str, str] | None = None, workers: int = 2, ready: bool = True) -> None:
        """Start it; with ``ready``, return once a worker answers."""
        metrics = tempfile.mkdtemp(prefix="metrics-", dir=content.parent)
        self.workers_wanted, self._ready = workers, ready
        super().__init__("granian", content, config, workers=workers, env={"PROMETHEUS_MULTIPROC_DIR": metrics, **(env or {})})

    def _wait_ready(self, timeout: float = 30.0) -> None:
        if self._ready:
            super()._wait_ready(timeout)

    def _run(self, argv: list[str], cwd: Path, preexec_fn: Any = None) -> None:
        super()._run(unit_argv(self.workers_wanted, self.port), cwd, preexec_fn)
        assert argv[-1] == "wsgi:app"

    def started(self) -> bool:
        """Whether every worker has loaded the app (granian logs it)."""
        return self.log.read_text(errors="replace").count("Started worker-") >= self.workers_wanted

    def events(self, name: str) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if re.search(rf" event={name}( |$)", line)]

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.request("/healthz").body)
        return data

    def status(self) -> dict[str, Any]:
        """The builder's status.json as it is now (empty when there is none)."""
        try:
            data: dict[str, Any] = json.loads((Path(self._environ["FEEDS_SNAPSHOT_DIR"]) / "status.json").read_bytes())
        except (OSError, ValueError):
            return {}
        return data

    def sigterm(self, timeout: float = 30.0) -> float:
        """SIGTERM to the main process only; seconds until it exited."""
        started = time.monotonic()
        self.process.terminate()
        self.process.wait(timeout)
        return time.monotonic() - started
