"""Which URLs the crawler may contact: allowed hosts and no private addresses.

Checked before every request, redirects included, so a catalog page cannot
steer the crawler to internal services (SSRF) or to hosts it was not given.
The addresses are checked again where the connection is made
(:class:`PinnedBackend`): a host name is resolved once there, every address it
resolves to is checked, and the socket goes to a checked address. A DNS server
that answers a public address to the URL check and a private one a moment
later (DNS rebinding) therefore never gets the crawler onto the private one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""resolver(host, port): the IP addresses (as text) a host name stands for; raises OSError."""


class RefusedURL(Exception):
    """A URL the crawler refuses to contact; ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), in its order of preference."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _is_private(address: IPAddress) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


@dataclass(frozen=True)
class NetworkPolicy:
    """Allowed hosts plus the few private host[:port] entries a source opts into."""

    allowed_hosts: frozenset[str]
    allow_private: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    def _private_allowed(self, host: str, port: int) -> bool:
        return host in self.allow_private or f"{host}:{port}" in self.allow_private

    def check(self, url: str) -> None:
        """Raise :class:`RefusedURL` unless ``url`` may be fetched."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RefusedURL(url, f"scheme {parts.scheme!r} not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            raise RefusedURL(url, "no host in URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise RefusedURL(url, "invalid port") from exc
        literal = _ip_literal(host)
        if literal is not None:
            self._checked_addresses(url, host, port)  # a private literal is refused as such
        if host not in self.allowed_hosts:
            raise RefusedURL(url, f"host not allowed: {host}")
        if literal is None:
            self._checked_addresses(url, host, port)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` once and check every address; connect only to what this returns."""
        return self._checked_addresses(f"{host}:{port}", host.lower(), port)

    def _checked_addresses(self, url: str, host: str, port: int) -> list[IPAddress]:
        literal = _ip_literal(host)
        found = [literal] if literal is not None else self._resolve(url, host, port)
        if not self._private_allowed(host, port):
            for address in found:
                if _is_private(address):
                    origin = "" if literal is not None else f" (from {host})"
                    raise RefusedURL(url, f"private address {address}{origin} refused")
        return found

    def _resolve(self, url: str, host: str, port: int) -> list[IPAddress]:
        try:
            answers = self.resolver(host, port)
            found = [ipaddress.ip_address(answer) for answer in answers]
        except (OSError, ValueError) as exc:
            raise RefusedURL(url, f"cannot resolve {host}: {exc}") from exc
        if not found:
            raise RefusedURL(url, f"cannot resolve {host}: no addresses")
        return found


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class PinnedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses the policy has just checked.

    httpcore asks for ``connect_tcp(host_name, port)``; this resolves the name
    once through the policy and connects to a checked IP. TLS (SNI and the
    certificate check) and the Host header still use the host name, because
    httpcore takes those from the request, not from the socket.
    """

    def __init__(self, policy: NetworkPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Raise :class:`RefusedURL` if an address is refused, else connect to one that answers."""
        *fallbacks, last = self.policy.addresses(host, port)
        for address in fallbacks:
            with contextlib.suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
        return self.inner.connect_tcp(str(last), port, timeout, local_address, socket_options)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)
