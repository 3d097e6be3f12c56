"""Which address a request comes from, when proxies stand in between (AA_TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def _networks(trusted: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # not an address: it cannot match a peer
    return networks


def _is_trusted(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded_for: list[str], trusted: Iterable[str]) -> str:
    """The peer's address, unless the peer is a trusted proxy: then the first address of
    X-Forwarded-For, read from the right, that is not a trusted proxy itself. Entries left of it
    were written by the client and are ignored (anyone can send the header)."""
    networks = _networks(trusted)
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    current = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return current  # garbage: the last address a trusted proxy vouched for
        if not _is_trusted(hop, networks):
            return hop
        current = hop
    return current
