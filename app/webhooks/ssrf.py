"""The SSRF guard: webhooks may only reach public https endpoints.

A URL is refused when it is not `https://`, or when its host resolves to any address that is
not public (loopback, private, link-local, CGNAT, multicast, unspecified, reserved, cloud
metadata, and IPv6 forms that embed such an IPv4 address). Hosts listed in
`BRANDCAST_WEBHOOK_ALLOWED_HOSTS` skip the address check and may use `http://`.

The check runs when a subscription is written and again before every delivery (DNS answers
change); the delivery then connects to the address that was checked, not to a fresh lookup.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named explicitly although the generic rules below cover them: these are the targets that
# matter most, and a reader should find them here.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT_SECONDS = 5.0


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why, for the client and the delivery log."""


@dataclass(frozen=True)
class Target:
    """Where to connect: the URL as given, and the checked address (None when allow-listed)."""

    url: httpx.URL
    address: IPAddress | None

    @property
    def host(self) -> str:
        return self.url.host

    def pinned_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address."""
        if self.address is None:
            return self.url
        return self.url.copy_with(host=str(self.address))


def allowed_hosts(raw: str | None) -> frozenset[str]:
    """`BRANDCAST_WEBHOOK_ALLOWED_HOSTS` (comma-separated) as lower-case host names."""
    if not raw:
        return frozenset()
    return frozenset(h.strip().lower().strip("[]") for h in raw.split(",") if h.strip())


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True when the address is globally routable unicast and not a metadata endpoint."""
    if address in METADATA_ADDRESSES:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    # is_global already excludes loopback, private, link-local, CGNAT (100.64/10), unspecified
    # and reserved ranges; multicast is checked on its own as some of it counts as global.
    return address.is_global and not address.is_multicast


def parse(url: str, allowed: frozenset[str]) -> httpx.URL:
    """Check the URL's form; raise UnsafeURL when it is not acceptable."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeURL("must be an absolute https:// URL") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise UnsafeURL("must be an absolute https:// URL")
    if parsed.userinfo:
        raise UnsafeURL("must not carry credentials; the signature authenticates deliveries")
    if parsed.scheme == "http" and parsed.host.lower() not in allowed:
        raise UnsafeURL(
            "must use https:// (http:// only for hosts in BRANDCAST_WEBHOOK_ALLOWED_HOSTS)"
        )
    return parsed


async def _getaddrinfo(host: str, port: int) -> list[str]:
    # a thread: the event loop must not wait on a slow resolver
    infos = await asyncio.to_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


async def resolve(url: str, allowed: frozenset[str]) -> Target:
    """Parse and resolve `url`; every address it resolves to must be public.

    Raises UnsafeURL (with a reason fit for a client) otherwise.
    """
    parsed = parse(url, allowed)
    host = parsed.host.lower()
    if host in allowed:
        return Target(url=parsed, address=None)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates = [literal]
    else:
        try:
            raw = await asyncio.wait_for(_getaddrinfo(host, port), RESOLVE_TIMEOUT_SECONDS)
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise UnsafeURL(f"host {host!r} does not resolve") from exc
        # scope ids ("fe80::1%eth0") are not part of the address
        candidates = [ipaddress.ip_address(a.split("%", 1)[0]) for a in raw]
        if not candidates:
            raise UnsafeURL(f"host {host!r} does not resolve")
    for address in candidates:
        if not is_public(address):
            raise UnsafeURL(f"host {host!r} resolves to {address}, which is not a public address")
    return Target(url=parsed, address=candidates[0])
