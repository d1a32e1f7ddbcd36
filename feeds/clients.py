"""Who sent a request: the peer, or the client that trusted proxies name in ``X-Forwarded-For``.

Shared by the poll limits (``feeds.web.ratelimit``) and subscriber counting
(``feeds.stats``), so both see the same client behind a proxy.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A Unix-socket peer (no address) is a local process: it is trusted exactly as loopback is.
_LOCAL = ipaddress.IPv4Address("127.0.0.1")


class ClientAddress:
    """Who sent a request: the peer, or the client that trusted proxies name in ``X-Forwarded-For``."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(network, strict=False) for network in trusted)
        # Parsing addresses costs more than the replay cache's whole answer; the same
        # clients come back, so remember the last few thousand header pairs.
        self._cached = functools.lru_cache(maxsize=4096)(self.resolve)

    def __call__(self, environ: dict[str, Any]) -> str:
        return self.of(environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR", ""))

    def of(self, peer: str, forwarded: str) -> str:
        """Return the client's key from the two header values, remembering the recent ones."""
        if len(forwarded) > 200:  # a long chain is a client's own claim: worth no cache space
            return self.resolve(peer, forwarded)
        return self._cached(peer, forwarded)

    def resolve(self, peer: str, forwarded: str) -> str:
        """Return the client's key from the peer address and the ``X-Forwarded-For`` value."""
        client = _address(peer) or _LOCAL
        if self._is_trusted(client):
            # Proxies append the address they were reached from; everything left of the
            # right-most untrusted one was written by the client and may be made up.
            # https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-For#selecting_an_ip_address
            for part in reversed(forwarded.split(",")):
                address = _address(part)
                if address is None:
                    break
                client = address
                if not self._is_trusted(address):
                    break
        if isinstance(client, ipaddress.IPv6Address):
            # One IPv6 host usually holds a whole /64 and can change address within it at will.
            return str(ipaddress.IPv6Network((client, 64), strict=False))
        return str(client)

    def _is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
