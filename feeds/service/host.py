"""One builder per host: a file lock elects it; a local socket lets the other workers ask it for things.

The lock is an ``fcntl.flock`` on ``snapshot_dir/builder.lock``: the kernel
releases it when its holder exits, even on ``kill -9``, and the next worker to
try takes over. The builder answers two questions on an abstract Unix socket
named after the snapshot folder (only processes of the same user may ask;
the peer's uid is checked): "render this older page now" and "rescan now".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCK = "builder.lock"
#: A request and its answer are one JSON line each; answers are small.
_LIMIT = 1 << 16


class HostLock:
    """The host's builder lock; ``try_acquire`` never blocks."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self._fd = -1
        self.held = False

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self._fd >= 0 and not self._current(self._fd):  # the folder was removed and made again: try its new lock
            os.close(self._fd)
            self._fd = -1
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another worker, or the folder is gone for a moment
            return False
        self.held = True
        return True

    def renew(self) -> bool:
        """As the holder, after the folder was removed and made again: take the lock file now at ``path``.

        The old lock (on a removed file) no longer keeps a worker started since from
        building too. False when such a worker took the new one first.
        """
        if not self.held or self._current(self._fd):
            return self.held
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.close(self._fd)  # releases the old lock; a follower still holding that file reopens ``path`` first
        self._fd = fd
        return True

    def recreate(self, mode: int) -> bool:
        """As the holder whose folder was removed: make the folder again with the lock already held in it.

        The folder is made under another name, its lock taken, then renamed into place, so
        no worker watching for a free lock can take the new one first. If a worker starting
        meanwhile made the folder already, its lock is taken if free (:meth:`renew`).
        """
        folder = self.path.parent
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = folder.with_name(f".{folder.name}.new-{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        os.mkdir(temporary, mode)
        fd = os.open(temporary / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows the file yet
        try:
            os.rename(temporary, folder)  # replaces nothing but an empty folder
        except OSError:
            os.close(fd)
            shutil.rmtree(temporary, ignore_errors=True)
            return self.renew()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        return True

    def lost(self) -> bool:
        """As the holder: whether the lock file was removed (with its folder) since it was taken."""
        return self.held and not self._current(self._fd)

    def _current(self, fd: int) -> bool:
        """Whether ``fd`` is the file at ``path`` (not one removed with its folder)."""
        try:
            here, there = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
        self._fd = -1
        self.held = False


def address(folder: Path) -> str:
    """The builder's socket: abstract (no file to clean up, no path-length limit), named after the snapshot folder."""
    return "\0feeds-" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:32]


#: Answers one request (None: not a request it knows).
Handler = Callable[[dict[str, Any]], dict[str, Any] | None]


class BuilderServer:
    """The builder's side: answer requests from the host's other workers, one thread each."""

    def __init__(self, folder: Path, handle: Handler) -> None:
        uid = os.getuid()

        class RequestHandler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                creds = self.request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                if struct.unpack("3i", creds)[1] != uid:
                    return  # another user's process: no answer
                line = self.rfile.readline(_LIMIT)
                try:
                    answer = handle(json.loads(line))
                except Exception as e:  # never let one request end the server
                    answer = {"error": repr(e)}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self._server = Server(address(folder), RequestHandler)
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="feeds-builder-server", daemon=True)
        self._thread = serve
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def ask(folder: Path, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Ask the host's builder; None when there is none or it did not answer within ``timeout`` seconds."""
    answer = _exchange(folder, request, timeout)
    return answer if isinstance(answer, dict) else None


def answering(folder: Path, timeout: float) -> bool:
    """Whether a builder answers on the socket of ``folder`` (any answer: one of another release too).

    A builder whose folder was removed keeps its socket (it is named after the folder's path,
    not a file in it) while it makes the folder again: its lock file is gone, but it is alive.
    """
    return _exchange(folder, {}, timeout) is not _NO_ANSWER


_NO_ANSWER = object()


def _exchange(folder: Path, request: dict[str, Any], timeout: float) -> Any:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address(folder))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(_LIMIT)
                if not chunk:
                    return _NO_ANSWER
                data += chunk
        return json.loads(data)
    except (OSError, ValueError):
        return _NO_ANSWER
