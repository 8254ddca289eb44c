"""Which URLs the crawler may contact: allowed hosts and no private addresses.

Checked before every connection, redirects included, so a catalog page cannot
steer the crawler to internal services (SSRF) or to hosts it was not given.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class RefusedURL(Exception):
    """A URL the crawler refuses to contact; ``reason`` says why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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
        if literal is not None and _is_private(literal) and not self._private_allowed(host, port):
            raise RefusedURL(url, f"private address {host} refused")
        if host not in self.allowed_hosts:
            raise RefusedURL(url, f"host not allowed: {host}")
        if literal is None and not self._private_allowed(host, port):
            for address in _resolve(url, host, port):
                if _is_private(address):
                    raise RefusedURL(url, f"private address {address} (from {host}) refused")


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _resolve(url: str, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RefusedURL(url, f"cannot resolve {host}: {exc.strerror}") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]
