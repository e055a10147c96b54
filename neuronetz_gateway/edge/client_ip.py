"""Step 2: the client IP, from X-Forwarded-For only when the peer is a trusted proxy (SPEC §6).

Walking the header from the right and stopping at the first untrusted hop means a client cannot
choose its own address by sending X-Forwarded-For itself: the trusted proxy appends the real one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from neuronetz_gateway.config import IPNetwork


def client_ip(peer: str, forwarded_for: bytes | None, trusted: tuple[IPNetwork, ...]) -> str:
    """The address limits and audit attribute the request to."""
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.decode("latin-1").split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            return peer  # a mangled header from our own proxy: trust only what we saw
        if not _is_trusted(address, trusted):
            return address
    return _parse(hops[0]) or peer


@lru_cache(maxsize=4096)
def _parse(text: str) -> str | None:
    candidate = text
    if candidate.startswith("[") and "]" in candidate:  # [v6]:port
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:  # v4:port
        candidate = candidate.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
