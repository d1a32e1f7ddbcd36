"""A scripted remote server for the fediverse tests: actors with keys, an inbox that records (or refuses), signed requests.

For the cases an independent peer cannot be asked to produce — a bad or stale
signature, a replay, an inbox that is down or gone, an actor whose inbox is on a
private address — the tests play the remote server themselves. The exchange with a
real implementation is tests/test_fediverse_peer.py's job.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from feeds.fediverse import signatures


class Remote:
    """``http://127.0.0.1:<port>``: actors ``/users/<name>`` (RSA keys), a shared inbox ``/inbox`` and personal ones."""

    def __init__(self, port: int = 0) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        #: Overrides of an actor's document fields (e.g. an inbox elsewhere).
        self.overrides: dict[str, dict[str, Any]] = {}
        #: What the inbox answers: a status (202 by default).
        self.inbox_status = 202
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self._cond = threading.Condition()
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.split("?")[0].removeprefix("/users/")
                if "/" in name or name not in remote.keys:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(remote.actor(name)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with remote._cond:
                    remote.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    remote._cond.notify_all()
                self.send_response(remote.inbox_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, name: str, **overrides: Any) -> str:
        """Make actor ``name`` (with a new key); return its id."""
        self.keys[name] = signatures.generate_key()
        self.overrides[name] = overrides
        return self.id(name)

    def id(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def actor(self, name: str) -> dict[str, Any]:
        actor = self.id(name)
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": name,
            "inbox": actor + "/inbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": signatures.public_pem(self.keys[name])},
            **self.overrides.get(name, {}),
        }

    def signed(
        self, name: str, url: str, activity: dict[str, Any] | bytes, *, now: datetime | None = None, key: rsa.RSAPrivateKey | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of a POST of ``activity`` to ``url`` signed by actor ``name``."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        parts = urlsplit(url)
        headers = signatures.sign(key or self.keys[name], self.id(name) + "#main-key", "POST", parts.path, parts.netloc, body, now)
        return {**headers, "Content-Type": "application/activity+json"}, body

    def post(self, name: str, url: str, activity: dict[str, Any] | bytes, context: Any = None, **options: Any) -> tuple[int, bytes]:
        headers, body = self.signed(name, url, activity, **options)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def follow(self, name: str, target: str, number: int = 1) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.id(name)}/follows/{number}",
            "type": "Follow",
            "actor": self.id(name),
            "object": target,
        }

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        """Wait for a POST to one of the inboxes whose JSON body ``match``es; return that body."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, _, body in self.received:
                    document = json.loads(body)
                    if match(document):
                        return dict(document)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no such delivery in {timeout}s; got {[json.loads(b).get('type') for _, _, b in self.received]}")
                self._cond.wait(remaining)

    def types(self) -> list[str]:
        with self._cond:
            return [str(json.loads(body).get("type")) for _, _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
