"""A private PostgreSQL cluster for the tests: initdb in a temp folder, one server on a free 127.0.0.1 port.

The binaries come from the machine (Debian's ``postgresql`` package, which
``make test`` installs where it may: ``scripts/test-deps.sh``): ``$PG_BINDIR``,
else ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``.
initdb and the server refuse to run as root: as root, both run as the
``postgres`` user (which the package creates), or ``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .server import free_port

#: Fast and not durable: a test cluster is thrown away.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


def find_bindir() -> Path | None:
    """Return the folder of initdb and postgres, or None if this machine has no PostgreSQL server."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    if shutil.which("pg_config"):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True).stdout
            candidates.append(Path(out.strip()))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True))
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "postgres").is_file()), None)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _server_user() -> pwd.struct_passwd | None:
    """The user the cluster runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")


class PostgresCluster:
    """initdb + postgres; ``url(database)`` addresses one of its databases, ``create_database()`` makes a fresh one."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = _server_user()
        self.folder = Path(tempfile.mkdtemp(prefix="feeds-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._count = 0
        if self.user is not None:  # the folder and everything in it belong to the server's user
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self._as_server_user([str(bindir / "initdb"), "-D", str(self.data), "-U", "feeds", "--auth=trust", "-E", "UTF8", "--no-sync"])
        settings = [arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        with self.log.open("wb") as log:
            if self.user is not None:
                os.chown(self.log, self.user.pw_uid, self.user.pw_gid)
            self.process = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._user_args(),
            )
        self._wait_ready()

    def _user_args(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": [], "env": {"PATH": os.environ.get("PATH", "")}}

    def _as_server_user(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.folder, **self._user_args())
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{self.log.read_text(errors='replace')}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres did not accept connections in {timeout} s:\n{self.log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.05)

    def dsn(self, database: str) -> str:
        return f"postgresql://feeds@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return self.dsn(database)

    def create_database(self, prefix: str = "test") -> str:
        """Create an empty database and return its URL."""
        import psycopg

        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, postgres): run `make test-deps` as root, or set PG_BINDIR")
    running = PostgresCluster(bindir)
    try:
        yield running
    finally:
        running.stop()
