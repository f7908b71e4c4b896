"""The address policy for HTTP requests that apps make (workflow http-request nodes, the agent's
HTTP tool).

A request may go only to public addresses: a host that resolves to any private, loopback,
link-local, reserved, multicast, unspecified or otherwise non-global address is refused unless the
server's allow-list admits it — by host name, by exact address, or by a network in CIDR form.
The request must then connect to the address that was checked (`pin`), never to a second lookup's
answer, so DNS rebinding cannot slip an internal address in between.

This module sits at the bottom of the layers: the engine and the services both use it, and it
imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A URL this policy does not let through."""


class InvalidUrl(OutboundError):
    """Not an http(s) URL with a host."""


class Unresolvable(OutboundError):
    """The host name has no address."""


class Refused(OutboundError):
    """The host resolves to a non-public address that the allow-list does not admit."""

    def __init__(self, host: str, address: Address) -> None:
        super().__init__(f"{host} resolves to the non-public address {address}")
        self.host = host
        self.address = address


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def admitted(host: str, address: Address, allowed: Collection[str]) -> bool:
    """Whether the allow-list names the host, the address, or a network holding the address."""
    for entry in allowed:
        entry = entry.strip().lower()
        if entry in (host, str(address)):
            return True
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


async def check(url: str, allowed: Collection[str]) -> Address:
    """Resolve the URL's host and apply the policy; return the address to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrl(f"invalid URL {url!r}: only http and https URLs with a host are allowed")
    host = parts.hostname.lower()
    default_port = 443 if parts.scheme == "https" else 80
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or default_port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise Unresolvable(f"cannot resolve host {host!r}: {exc}") from None
    addresses = sorted(
        {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos},
        key=lambda a: (a.version, int(a)),
    )
    if not addresses:
        raise Unresolvable(f"cannot resolve host {host!r}")
    for address in addresses:
        if not is_public(address) and not admitted(host, address, allowed):
            raise Refused(host, address)
    return addresses[0]


def pin(url: str, address: Address) -> tuple[str, str, str]:
    """(the URL with the checked address as its host, the Host header, the TLS server name)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if address.version == 6 else str(address)
    port = f":{parts.port}" if parts.port else ""
    header = (f"[{host}]" if ":" in host else host) + port
    return parts._replace(netloc=literal + port).geturl(), header, host


def parse_allow_list(*raw: str | None) -> tuple[str, ...]:
    """Comma-separated host names, addresses and CIDR networks, from any number of sources."""
    entries: list[str] = []
    for text in raw:
        for item in (text or "").split(","):
            item = item.strip().lower()
            if item and item not in entries:
                entries.append(item)
    return tuple(entries)
