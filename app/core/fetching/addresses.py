"""Which addresses a photo may be fetched from: public unicast ones, plus the networks an
operator allows (URL_ALLOWED_NETWORKS), never the cloud metadata service."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# GCE's metadata server answers on this name ("metadata" through the resolver's search
# domain) and these addresses (AWS's IPv6 one too); never allowed, whatever the operator says.
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata"})
METADATA = _nets("169.254.169.254/32", "fd00:ec2::254/128")
# What each non-public range is called in a refusal; the first match wins. Written out, not
# left to `is_global`, whose lists changed in Python 3.13 (and in the 3.12.4/3.11.10 security
# releases), and which calls multicast and fec0::/10 global: this answers alike everywhere.
_SPECIAL = (
    ("an unspecified address", _nets("0.0.0.0/8", "::/128")),
    ("a loopback address", _nets("127.0.0.0/8", "::1/128")),
    ("a private address", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("a carrier-grade NAT address", _nets("100.64.0.0/10")),
    ("a link-local address", _nets("169.254.0.0/16", "fe80::/10")),
    ("a multicast address", _nets("224.0.0.0/4", "ff00::/8")),
    ("a documentation or benchmarking address",
     _nets("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15",
           "2001:db8::/32", "3fff::/20")),
    # Tunnels unwrap to an IPv4 address that may be private; nothing real serves photos there.
    ("a 6to4 or Teredo tunnel address", _nets("2002::/16", "2001::/32")),
    # Whole protocol-assignment blocks: Python versions disagree on a few anycast addresses
    # inside them (192.0.0.9, 2001:20::/28), and none of them serves photos.
    ("a reserved address", _nets("240.0.0.0/4", "fec0::/10", "192.0.0.0/24", "2001::/23")),
)
# DNS64 answers for IPv4-only hosts on IPv6-only networks: judged by the IPv4 inside.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def plain(ip: Address) -> Address:
    """::ffff:a.b.c.d as a.b.c.d: judged, allowed and connected to as the IPv4 it is."""
    return (ip.ipv4_mapped or ip) if ip.version == 6 else ip


def shown(ip: Address) -> str:
    """`ip` as people write it: ::ffff:10.0.0.1 (Python < 3.13 writes ::ffff:a00:1)."""
    mapped = ip.version == 6 and ip.ipv4_mapped
    return f"::ffff:{mapped}" if mapped else str(ip)


def describe(ip: Address) -> str | None:
    """None when `ip` is a public unicast address; else what it is, for a sentence."""
    ip = plain(ip)
    if any(ip in net for net in METADATA):
        return "the cloud metadata service's address"
    if ip in _NAT64:
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        what = describe(inner)
        return what and f"a NAT64 address for {inner}, {what}"
    for what, networks in _SPECIAL:
        if any(ip in net for net in networks):
            return what
    # Python's own lists catch the rest (IETF protocol assignments, reserved IPv6 space).
    if not ip.is_global or ip.is_reserved or ip.is_private or ip.is_multicast:
        return "a special-purpose address, not a public one"
    return None


def refusal(ip: Address, allowed: Iterable[Network]) -> str | None:
    """None when a photo may be fetched from `ip` (plain: see `plain`); else what it is."""
    if any(ip in net for net in allowed) and not any(ip in net for net in METADATA):
        return None
    return describe(ip)


def parse_networks(text: str) -> tuple[Network, ...]:
    """URL_ALLOWED_NETWORKS ("10.0.0.0/8, fd00::/8") as networks, for the settings. A
    network with host bits set (10.0.0.1/8) is refused: it is most likely a typo."""
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",")
                     if part.strip())
    except ValueError as exc:
        raise ValueError(f"comma-separated networks such as 10.0.0.0/8, fd00::/8 ({exc})") \
            from None
