"""Where the hub may POST a webhook: public addresses only, checked at registration and again at delivery.

A client system chooses its webhook URL, and the hub then sends requests to it from inside the hub's own
network. Without limits that is a server-side request forgery: a "webhook" at ``http://169.254.169.254/``
reads the cloud's instance metadata, one at ``http://10.0.0.5:6379/`` pokes an internal service. So an
address is refused when it is loopback, private (RFC 1918, ``fc00::/7``, the old site-local ``fec0::/10``),
link-local (``169.254/16``, ``fe80::/10``), multicast, unspecified, shared (CGNAT ``100.64/10``) or in any
other range that is not globally routable, including the IPv6 forms that carry such an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``).
An IPv4 address must be written in dotted decimal: ``0x7f000001``, ``2130706433`` or ``0177.0.0.1`` are what
resolvers read as 127.0.0.1, and a checker and a connector that read them differently are how such limits
are bypassed. In production the port must be the scheme's own (a webhook is not a port scanner).

A check at registration is not enough: the name's DNS answer can change afterwards (or between the check
and the connection: DNS rebinding). :class:`GuardedTransport` therefore resolves the name at every delivery,
checks every address it got, and connects to a checked address itself, keeping the name for the ``Host``
header and for TLS (SNI and the certificate check), so no second, unchecked resolution happens.
Redirects are never followed (``WebhookChannel`` sets ``follow_redirects=False``).

Development and test hubs may allow loopback and private receivers (``GONGYU_WEBHOOK_ALLOW_PRIVATE``, off by
default and refused in production) so the demo and the tests can run a receiver on 127.0.0.1; link-local,
multicast and the rest stay refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httpx

from hub.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
RESOLVE_TIMEOUT_SECONDS: Final = 5.0


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# The kinds of address refused, each with its ranges; the first match names the refusal.
_KINDS: Final = (
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("shared", _nets("100.64.0.0/10")),
)
# What ``GONGYU_WEBHOOK_ALLOW_PRIVATE`` lets through outside production: a receiver on this machine or LAN.
_ALLOWED_WHEN_PRIVATE_ALLOWED: Final = frozenset({"loopback", "private"})
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")


class Refused(ValueError):
    """A URL or address the hub will not send to. ``reason`` is a stable code for problem+json; the message
    is for operators (it names the address, never anything a resident typed)."""

    def __init__(self, reason: str, message: str, *, address_kind: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.address_kind = address_kind


@dataclass(frozen=True)
class Policy:
    """What a hub allows: private receivers (development and test only) and any port (outside production)."""

    allow_private: bool = False
    production: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        # Settings refuse to start production with the switch on; this keeps production strict regardless.
        production = settings.is_production
        return cls(allow_private=settings.webhook_allow_private and not production, production=production)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), which is where it leads."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is no place for a webhook (``loopback``, ``private``, ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return address_kind(inner)
    for kind, networks in _KINDS:
        if any(address in network for network in networks):
            return kind
    return None if address.is_global else "reserved"


def check_address(address: IPAddress, policy: Policy) -> None:
    """Raise :class:`Refused` unless the hub may connect to ``address`` under ``policy``."""
    kind = address_kind(address)
    if kind is None or (policy.allow_private and kind in _ALLOWED_WHEN_PRIVATE_ALLOWED):
        return
    raise Refused("address-not-allowed", f"{address} is a {kind} address", address_kind=kind)


def _literal(host: str) -> IPAddress | None:
    """The IP address ``host`` is written as, or None for a name. Numeric IPv4 forms other than dotted
    decimal are refused outright (see the module doc)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(host)  # what C resolvers accept: hex, octal, 1 to 4 parts
    except OSError:
        return None
    raise Refused(
        "address-form",
        f"{host!r} is the IPv4 address {ipaddress.IPv4Address(packed)} in another form: write addresses in "
        "dotted decimal",
    )


@dataclass(frozen=True)
class Target:
    """A checked URL's parts: where to connect (``host``, ``port``) and the address if it is a literal."""

    scheme: str
    host: str
    port: int
    literal: IPAddress | None


def check_url(url: str, policy: Policy) -> Target:
    """What can be decided from the URL alone: scheme, host, port, and the address if one is written."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("url", "not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise Refused("url", "the webhook URL must be an http:// or https:// URL with a host")
    if policy.production and parts.scheme != "https":
        raise Refused("https-required", "the webhook URL must use https in production")
    default = DEFAULT_PORTS[parts.scheme]
    if policy.production and port not in (None, default):
        raise Refused("port-not-allowed", f"port {port}: production sends webhooks to port {default} only")
    host = parts.hostname.rstrip(".") or parts.hostname
    literal = _literal(host)
    if literal is not None:
        check_address(literal, policy)
    return Target(parts.scheme, host, port or default, literal)


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (``/etc/hosts``, DNS), as the connection would see."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_addresses(
    target: Target, policy: Policy, resolver: Resolver = system_resolver
) -> list[str]:
    """Every address ``target`` resolves to, each checked: one refused address refuses the name (an
    attacker's name may answer a public and a private address and let the connection pick).

    ``OSError`` (including ``socket.gaierror``) or ``TimeoutError`` when the name does not resolve now.
    """
    if target.literal is not None:
        return [str(target.literal)]
    found = await asyncio.wait_for(resolver(target.host, target.port), RESOLVE_TIMEOUT_SECONDS)
    if not found:
        raise OSError(f"{target.host} has no address")
    addresses: list[str] = []
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # a scoped fe80::1%eth0 is link-local anyway
        check_address(address, policy)
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses


async def check_endpoint(url: str, policy: Policy, resolver: Resolver = system_resolver) -> None:
    """Registration: the URL, and where its name leads today. A name that does not resolve yet is accepted
    (it can lead nowhere now, and each delivery checks it again); one that leads to a refused address is not.
    """
    target = check_url(url, policy)
    try:
        await checked_addresses(target, policy, resolver)
    except (OSError, TimeoutError):
        return


class GuardedTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address checked just before: resolve, check all, connect to a checked one.

    The request keeps its URL's name in the ``Host`` header and as the TLS server name (httpcore's
    ``sni_hostname``), so virtual hosting and certificate checks work as if the name had been dialled.
    Connections are pooled per name (``make_transport`` builds one pool each, least recently used dropped
    past ``max_pools``): a TLS connection opened and verified for one name is never reused for another name
    that happens to share its address.

    A name's checked addresses are kept ``cache_seconds`` (a resolution costs a thread hop per delivery, and
    a worker sends hundreds a second to the same few endpoints). Safe, because only checked addresses are
    kept and connected to: a DNS change is seen at most that much later, and never widens where the hub goes.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        resolver: Resolver = system_resolver,
        make_transport: Callable[[], httpx.AsyncBaseTransport] = httpx.AsyncHTTPTransport,
        max_pools: int = 64,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.make_transport = make_transport
        self.max_pools = max_pools
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._pools: OrderedDict[str, httpx.AsyncBaseTransport] = OrderedDict()
        self._checked: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def _addresses(self, target: Target) -> list[str]:
        if target.literal is not None or self.cache_seconds <= 0:
            return await checked_addresses(target, self.policy, self.resolver)
        key, now = (target.host, target.port), self.clock()
        kept = self._checked.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        addresses = await checked_addresses(target, self.policy, self.resolver)
        if len(self._checked) >= 4 * self.max_pools:
            self._checked = {k: v for k, v in self._checked.items() if v[0] > now}
        self._checked[key] = (now + self.cache_seconds, addresses)
        return addresses

    async def _pool(self, name: str) -> httpx.AsyncBaseTransport:
        pool = self._pools.pop(name, None) or self.make_transport()
        self._pools[name] = pool
        while len(self._pools) > self.max_pools:
            _, oldest = self._pools.popitem(last=False)
            await oldest.aclose()
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = check_url(str(request.url), self.policy)
        addresses = await self._addresses(target)
        pool = await self._pool(f"{target.scheme}://{target.host}:{target.port}")
        request.extensions = {**request.extensions, "sni_hostname": target.host}
        original = request.url
        failure: httpx.ConnectError | None = None
        for address in addresses:  # dual-stack names: the next checked address if one cannot be reached
            request.url = original.copy_with(host=address)
            try:
                return await pool.handle_async_request(request)
            except httpx.ConnectError as exc:
                failure = exc
            finally:
                request.url = original
        assert failure is not None  # checked_addresses never answers an empty list
        raise failure

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()
