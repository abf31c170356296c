"""Where a request came from, as every part of Keydrop records it.

Flood limits, django-axes (AXES_CLIENT_IP_CALLABLE), audit events and a submission's
submitter_ip all ask `client_ip(request)`, so a lockout, a limit and an audit line name the same
address.

Behind proxies, list them in PORTAL_TRUSTED_PROXIES (addresses or networks). When the socket's
peer is one of them, the client is the right-most X-Forwarded-For address that is not itself a
trusted proxy: each trusted proxy appends the address it saw, and anything further left was
written by the client and may be invented. A peer that is not trusted gets no say at all, so a
spoofed header from the internet is ignored.
"""

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: list[str], setting: str = "PORTAL_TRUSTED_PROXIES") -> tuple[Network, ...]:
    """'10.0.0.0/8, 192.0.2.7, ::1' as networks; a typo stops the start rather than trusting too much."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            problem = f"{setting}: {entry!r} is not an IP address or network (such as 10.0.0.0/8)."
            raise ImproperlyConfigured(problem) from None
    return tuple(networks)


def parse_address(value: str) -> Address | None:
    """An address as proxies write it: '192.0.2.1', '192.0.2.1:4711', '[2001:db8::1]:443' or '2001:db8::1'."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket: record it as the IPv4 address it is.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, proxies: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_ip(request) -> str | None:
    """The client's address: the socket's peer, or (behind trusted proxies) the address they saw."""
    cached = getattr(request, "_keydrop_client_ip", False)
    if cached is not False:
        return cached
    request._keydrop_client_ip = address = _resolve(request.META, settings.PORTAL_TRUSTED_PROXIES)
    return address


def _resolve(meta, proxies: tuple[Network, ...]) -> str | None:
    peer = parse_address(meta.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    if not is_trusted(peer, proxies):
        return str(peer)
    current = peer
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = parse_address(hop)
        if address is None:
            break  # garbage where a trusted proxy should have written an address: stop at the last good one
        current = address
        if not is_trusted(address, proxies):
            break
    return str(current)
