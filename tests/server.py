"""A real ``feeds serve`` process on 127.0.0.1, for tests about HTTP."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


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
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (cwd or content.parent) / f"server-{self.port}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
        environ.update({"FEEDS_SITE_URL": self.base, **(env or {})})
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "feeds", "serve", "--port", str(self.port), "--content", str(content), "--config", str(config)],
            env=environ,
            cwd=cwd or content.parent,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
        self._wait_ready()

    def url(self, path: str) -> str:
        return self.base + path

    def request(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        """Send one raw request (no decompression, no redirects) and read the whole reply."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
