"""Every request we make to another server: checked against SSRF and blocked domains where it connects.

A remote document names URLs we then fetch or post to (an actor's inbox, a keyId),
so a hostile server could point us at our own network. Each request resolves the
host itself and connects only to an address that is global — not private,
loopback, link-local, CGNAT, multicast or reserved — unless ``fediverse_allowed_private``
names it (or the host name). The check is on the address we connect to, after
resolution, so a name that resolves to a private address (or changes between a
check and the connection: DNS rebinding) is refused too. Plain ``http://`` is only
for allowed private hosts (tests, a server on the same machine); the fediverse is https.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urljoin, urlsplit

from feeds import __version__, limits
from feeds.config import Config
from feeds.fediverse.errors import FetchError, RefusedError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = f"feeds/{__version__} (fediverse)"
#: Signs a request: ``(method, path and query, Host header, body) -> headers to add``.
SignFunction = Callable[[str, str, str, bytes | None], dict[str, str]]


def _forbidden(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class Policy:
    """Where requests may go: blocked domains, and the private addresses and hosts allowed anyway."""

    #: Normalised networks and lower-case host names from ``fediverse_allowed_private``.
    allowed: tuple[str, ...] = ()
    #: Lower-case domains from ``fediverse_blocked_domains`` (each blocks its subdomains too).
    blocked: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> Policy:
        return cls(config.fediverse_allowed_private, config.fediverse_blocked_domains)

    @cached_property
    def _networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        networks = []
        for item in self.allowed:
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError:
                continue
        return tuple(networks)

    def blocks(self, host: str) -> bool:
        """Whether ``host`` (a name or address) is a blocked domain or under one."""
        host = host.lower().rstrip(".")
        return any(host == domain or host.endswith("." + domain) for domain in self.blocked)

    def allows_private(self, host: str, address: Address) -> bool:
        return host.lower() in self.allowed or any(address in network for network in self._networks)

    def check_url(self, url: str) -> tuple[str, str, int, str]:
        """Return (scheme, host, port, path and query) of a URL we may request; RefusedError otherwise."""
        if len(url) > limits.MAX_REMOTE_URL:
            raise RefusedError(url, "URL too long")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RefusedError(url, "not an http(s) URL")
        if parts.username or parts.password:
            raise RefusedError(url, "URL with credentials")
        host = parts.hostname
        if self.blocks(host):
            raise RefusedError(url, "blocked domain")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise RefusedError(url, "bad port") from e
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.scheme, host, port, target

    def address(self, url: str, scheme: str, host: str, port: int) -> Address:
        """Resolve ``host`` and return the first address we may connect to; RefusedError if none."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise FetchError(url, f"cannot resolve host: {e}") from e
        refused = None
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not _forbidden(address):
                if scheme != "https":
                    refused = "plain http to a public address (https only)"
                    continue
                return address
            if self.allows_private(host, address):
                return address
            refused = f"private address {address} (not in fediverse_allowed_private)"
        raise RefusedError(url, refused or "no address")


@dataclass(frozen=True)
class Response:
    status: int
    #: Lower-case header names.
    headers: Mapping[str, str]
    body: bytes
    #: The URL that answered (after redirects).
    url: str


class _Plain(http.client.HTTPConnection):
    def __init__(self, address: Address, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), limits.CONNECT_TIMEOUT)
        self.sock.settimeout(self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLS(http.client.HTTPSConnection):
    def __init__(self, address: Address, host: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((str(self._address), self.port), limits.CONNECT_TIMEOUT)
        sock.settimeout(self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class Client:
    """Makes one request at a time per call, from any thread; every connection checked by ``policy``."""

    def __init__(self, policy: Policy, user_agent: str = USER_AGENT) -> None:
        self.policy = policy
        self.user_agent = user_agent
        self._tls = ssl.create_default_context()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        limit: int = limits.MAX_FETCHED_BODY,
        sign: SignFunction | None = None,
    ) -> Response:
        """Send one request (no redirect followed); the answer's body is read up to ``limit`` bytes (FetchError past it)."""
        scheme, host, port, target = self.policy.check_url(url)
        address = self.policy.address(url, scheme, host, port)
        host_header = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if port == (443 if scheme == "https" else 80) else f"[{host}]:{port}"
        all_headers = {"Host": host_header, "User-Agent": self.user_agent, **(headers or {})}
        if sign is not None:
            all_headers.update(sign(method, target, host_header, body))
        if body is not None:
            all_headers["Content-Length"] = str(len(body))
        if scheme == "https":
            connection: http.client.HTTPConnection = _TLS(address, host, port, limits.REQUEST_TIMEOUT, self._tls)
        else:
            connection = _Plain(address, host, port, limits.REQUEST_TIMEOUT)
        deadline = time.monotonic() + limits.REQUEST_TIMEOUT
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in all_headers.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            answer = connection.getresponse()
            chunks, size = [], 0
            while size <= limit:
                if time.monotonic() > deadline:
                    raise FetchError(url, "the answer took too long")
                chunk = answer.read(min(65536, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                raise FetchError(url, f"the answer is larger than {limit} bytes", answer.status)
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, b"".join(chunks), url)
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(url, f"{type(e).__name__}: {str(e)[:200]}") from e
        finally:
            connection.close()

    def get(self, url: str, accept: str, sign: SignFunction | None = None) -> Response:
        """GET ``url``, following up to ``MAX_FETCH_REDIRECTS`` redirects (each checked again)."""
        for _ in range(limits.MAX_FETCH_REDIRECTS + 1):
            response = self.request("GET", url, {"Accept": accept}, sign=sign)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            url = urljoin(url, location)
        raise FetchError(url, "too many redirects")
