"""A real ``feeds serve`` process on 127.0.0.1, for tests about HTTP."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Reply:
    status: int
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether ``url`` answers 2xx or 3xx; raise at once if ``process`` has exited (``log`` says why)."""
    if process.poll() is not None:
        raise RuntimeError(f"{url}: the process exited with {process.returncode}:\n{log.read_text()}")
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # a 503 while it starts too (HTTPError is a URLError)
        return False


class ServerProcess:
    """``python -m feeds serve`` in a subprocess; ``url(path)`` addresses it."""

    def __init__(
        self,
        content: Path,
        config: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        folder = cwd or content.parent
        self._spawn("server", folder, {}, env, preexec_fn)
        argv = ["-m", "feeds", "serve", "--port", str(self.port), "--content", str(content), "--config", str(config)]
        self._run(argv, folder, preexec_fn)
        self._wait_ready()

    def _spawn(
        self, name: str, folder: Path, settings: dict[str, str], env: dict[str, str] | None, preexec_fn: Callable[[], None] | None = None
    ) -> None:
        """Pick a port and a log file in ``folder``; build the environment (no inherited FEEDS_/PROMETHEUS_ values)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{name}-{self.port}.log"
        self._environ = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDS_", "PROMETHEUS_"))}
        self._environ.update({"FEEDS_SITE_URL": self.base, "FEEDS_SNAPSHOT_DIR": str(folder / f"snapshot-{name}-{self.port}")})
        self._environ.update({**settings, **(env or {})})

    def _run(self, argv: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, *argv],
            env=self._environ,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
            start_new_session=True,  # its own process group: stop() can take every worker and helper with it
        )

    def url(self, path: str) -> str:
        return self.base + path

    def request(self, path: str, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = 10.0) -> Reply:
        """Send one raw request (no decompression, no redirects) and read the whole reply."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def rebuild(self, token: str, timeout: float = 30.0) -> Reply:
        """POST /-/rebuild until it is answered 200, and return that answer.

        A rebuild asked while one runs (the start-up scan, just after the server answered) is
        queued (202) and runs next; once a request is answered 200, no run is left to come.
        """

        def done() -> Reply | None:
            reply = self.request("/-/rebuild", {"Authorization": f"Bearer {token}"}, "POST", timeout)
            assert reply.status in (200, 202), reply
            return reply if reply.status == 200 else None

        return wait_until(done, timeout, "a rebuild answered 200, not queued (202)", detail=self.log.read_text)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        try:
            ready = self.url("/healthz")
            wait_until(lambda: answers(ready, self.process, self.log), timeout, f"{ready} to answer", detail=self.log.read_text)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):  # workers or helpers that outlived it go too
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class WsgiServer(ServerProcess):
    """``gunicorn wsgi:app`` or ``granian --interface wsgi wsgi:app`` from the checkout, on a free 127.0.0.1 port.

    gunicorn reads ``./gunicorn.conf.py`` (shared mode), so each server gets its
    own ``snapshot_dir`` unless one is given.
    """

    def __init__(
        self, kind: str, content: Path, config: Path, workers: int = 2, env: dict[str, str] | None = None, site_url: str | None = None
    ) -> None:
        settings = {"FEEDS_CONFIG": str(config), "FEEDS_CONTENT_DIR": str(content)}
        self._spawn(kind, content.parent, settings, env)
        if site_url:
            self._environ["FEEDS_SITE_URL"] = site_url
        if kind == "granian":
            argv = ["-m", "granian", "--interface", "wsgi", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(self.port)]
        else:
            argv = ["-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}"]
        self._run([*argv, "wsgi:app"], ROOT)
        self._wait_ready()
