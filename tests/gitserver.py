"""Git servers on 127.0.0.1 for the tests: ``git daemon``, ``git http-backend`` behind a tiny CGI server, a hung one.

Each is a context manager that yields its base URL and stops (kills) what it
started on exit; every wait is bounded.
"""

from __future__ import annotations

import base64
import hmac
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .waiting import wait_until

#: Seconds a server may take to start, or a request to be answered.
START_TIMEOUT = 10.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(listening, START_TIMEOUT, f"a server listening on 127.0.0.1:{port}")


@contextmanager
def git_daemon(base_path: Path) -> Iterator[str]:
    """Serve every repository under ``base_path`` read-only over git://; yield ``git://127.0.0.1:<port>``."""
    port = free_port()
    process = subprocess.Popen(
        [
            "git", "daemon", "--export-all", "--reuseaddr", "--informative-errors",
            f"--base-path={base_path}", f"--port={port}", "--listen=127.0.0.1", str(base_path),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the daemon forks a child per connection: stop the whole group
    )  # fmt: skip
    try:
        _wait_for_port(port, process)
        yield f"git://127.0.0.1:{port}"
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue


class _GitHttpHandler(BaseHTTPRequestHandler):
    """Run ``git http-backend`` as a CGI program for each request (smart HTTP, protocol v2)."""

    server: _GitHttpServer

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output quiet

    def _cgi(self) -> None:
        self.server.requests.append(f"{self.command} {self.path} auth={'Authorization' in self.headers}")
        user = self._authorized()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body()
        url = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": user,
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, timeout=START_TIMEOUT, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self) -> str | None:
        """Return the user name if the request may pass (always, without credentials configured)."""
        expected = self.server.credentials
        if expected is None:
            return ""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return None
        wanted = f"{expected[0]}:{expected[1]}".encode()
        return expected[0] if hmac.compare_digest(given, wanted) else None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _GitHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, credentials: tuple[str, str] | None) -> None:
        super().__init__(("127.0.0.1", 0), _GitHttpHandler)
        self.root = root
        self.credentials = credentials
        #: One line per request, for assertions.
        self.requests: list[str] = []


@contextmanager
def git_http(root: Path, credentials: tuple[str, str] | None = None) -> Iterator[tuple[str, _GitHttpServer]]:
    """Serve the repositories under ``root`` over smart HTTP; yield ``http://127.0.0.1:<port>`` and the server.

    With ``credentials`` (user, password) every request needs that Basic authorization.
    """
    server = _GitHttpServer(root, credentials)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def hung_server() -> Iterator[int]:
    """Listen on a port and never answer: a connection is accepted by the kernel, then nothing. Yield the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]
