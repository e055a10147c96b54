"""Host facts the exposure checks read, behind one small interface with a real and a fake side.

The real side reads this network namespace's sockets from /proc/net/tcp and tcp6, its addresses
from /proc/net/fib_trie and if_inet6, files and the environment; the fake side is a dataclass the
tests fill in, so every check is tested on its own without touching the host.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

_LISTEN = "0A"
DOCKER_SOCKET = Path("/var/run/docker.sock")


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening TCP socket: its local address and port."""

    address: str
    port: int


class HostFacts(Protocol):
    """What the checks may ask about the host."""

    def listeners(self) -> list[Listener]: ...
    def host_addresses(self) -> list[str]: ...
    def can_connect(self, host: str, port: int) -> bool: ...
    def read_text(self, path: Path) -> str | None: ...
    def mode(self, path: Path) -> int | None: ...
    def environ(self) -> Mapping[str, str]: ...
    def in_container(self) -> bool: ...
    def docker_containers(self) -> list[dict[str, Any]] | str: ...


def _hex_ipv4(text: str) -> str:
    return str(ipaddress.IPv4Address(bytes.fromhex(text)[::-1]))


def _hex_ipv6(text: str) -> str:
    raw = bytes.fromhex(text)
    # /proc prints the address as four host-order 32-bit words.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def parse_proc_net(text: str, v6: bool) -> list[Listener]:
    """Listening sockets from the text of /proc/net/tcp or tcp6."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN:
            continue
        address, port = fields[1].split(":")
        found.append(Listener(_hex_ipv6(address) if v6 else _hex_ipv4(address), int(port, 16)))
    return found


@dataclass(slots=True)
class RealHostFacts:
    """This host, as seen from this process's network namespace."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    connect_timeout_s: float = 1.0

    def listeners(self) -> list[Listener]:
        found = []
        for name, v6 in (("tcp", False), ("tcp6", True)):
            text = self.read_text(Path("/proc/net") / name)
            if text:
                found.extend(parse_proc_net(text, v6))
        return found

    def host_addresses(self) -> list[str]:
        addresses: set[str] = set()
        trie = self.read_text(Path("/proc/net/fib_trie")) or ""
        previous = ""
        for line in trie.splitlines():
            stripped = line.strip()
            if stripped.startswith("/32 host LOCAL"):
                addresses.add(previous.split()[-1])
            previous = stripped
        for line in (self.read_text(Path("/proc/net/if_inet6")) or "").splitlines():
            hex_address = line.split()[0]
            addresses.add(str(ipaddress.IPv6Address(bytes.fromhex(hex_address))))
        return sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)

    def can_connect(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=self.connect_timeout_s):
                return True
        except OSError:
            return False

    def read_text(self, path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def mode(self, path: Path) -> int | None:
        try:
            return path.stat().st_mode & 0o777
        except OSError:
            return None

    def environ(self) -> Mapping[str, str]:
        return self.env

    def in_container(self) -> bool:
        return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()

    def docker_containers(self) -> list[dict[str, Any]] | str:
        """Running containers from the Docker API, or why they cannot be read ("absent", "…")."""
        if not DOCKER_SOCKET.exists():
            return "absent"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(str(DOCKER_SOCKET))
                sock.sendall(b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            containers = json.loads(data.split(b"\r\n\r\n", 1)[1])
        except (OSError, ValueError, IndexError) as exc:
            return type(exc).__name__
        return containers if isinstance(containers, list) else "unexpected answer"


@dataclass(slots=True)
class FakeHostFacts:
    """A host made up by a test."""

    listening: list[Listener] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    open_ports: set[tuple[str, int]] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    container: bool = False
    containers: list[dict[str, Any]] | str = "absent"

    def listeners(self) -> list[Listener]:
        return self.listening

    def host_addresses(self) -> list[str]:
        return self.addresses

    def can_connect(self, host: str, port: int) -> bool:
        return (host, port) in self.open_ports

    def read_text(self, path: Path) -> str | None:
        return self.files.get(str(path))

    def mode(self, path: Path) -> int | None:
        return self.modes.get(str(path))

    def environ(self) -> Mapping[str, str]:
        return self.env

    def in_container(self) -> bool:
        return self.container

    def docker_containers(self) -> list[dict[str, Any]] | str:
        return self.containers
