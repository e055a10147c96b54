"""The host-side doctor checks: one function each over `HostFacts` and the settings (SPEC §11).

Each returns a `Finding` (PASS / WARN / FAIL, a one-line reason, the fix). The database, Redis and
backend checks need I/O and live in `runner.py`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from neuronetz_gateway.config import Settings
from neuronetz_gateway.doctor.facts import HostFacts

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
PROTECTED_SERVICES = ("ollama", "postgres", "redis", "gateway")
WEAK_SECRETS = frozenset(
    {"", "postgres", "password", "changeme", "change-me", "secret", "admin", "example"}
)
# OWASP Password Storage Cheat Sheet, Argon2id minimums: (memory KiB, iterations), parallelism 1.
OWASP_ARGON2 = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict."""

    name: str
    status: str
    message: str
    fix: str = ""


def _ports(settings: Settings) -> set[int]:
    ports = {11434}
    for backend in settings.backends:
        parts = urlsplit(backend.url)
        ports.add(parts.port or (443 if parts.scheme == "https" else 80))
    return ports


def backend_addresses(settings: Settings) -> Finding:
    """Backends must be loopback, private or internal names, never public addresses."""
    public = []
    for backend in settings.backends:
        host = urlsplit(backend.url).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if "." in host and not host.endswith(
                (".internal", ".local", ".lan", ".svc", ".cluster.local")
            ):
                public.append(host)  # a DNS name that may resolve to a public address
            continue
        if not (address.is_loopback or address.is_private or address.is_link_local):
            public.append(host)
    if public:
        return Finding(
            "backend_addresses",
            FAIL,
            f"backends at public addresses: {', '.join(public)}",
            "run Ollama on loopback or a private network and point OLLAMA_BACKENDS there",
        )
    return Finding(
        "backend_addresses",
        PASS,
        "every backend is on loopback, a private network or an internal name",
    )


def ollama_listeners(settings: Settings, facts: HostFacts) -> Finding:
    """No socket listens on a backend port on a non-loopback address (this namespace only)."""
    ports = _ports(settings)
    exposed = [
        f"{lst.address}:{lst.port}"
        for lst in facts.listeners()
        if lst.port in ports and not ipaddress.ip_address(lst.address).is_loopback
    ]
    if exposed:
        return Finding(
            "ollama_listeners",
            FAIL,
            f"listening outside loopback on an Ollama port: {', '.join(exposed)}",
            "bind Ollama to 127.0.0.1 (OLLAMA_HOST=127.0.0.1:11434) or a private container network",
        )
    return Finding(
        "ollama_listeners",
        PASS,
        f"no socket listens on port(s) {', '.join(map(str, sorted(ports)))} outside loopback "
        "in this network namespace (other namespaces and containers are not visible from here)",
    )


def host_address_refusal(settings: Settings, facts: HostFacts) -> Finding:
    """Connecting to this host's own non-loopback addresses on the Ollama ports must fail."""
    ports = _ports(settings)
    reachable = [
        f"{a}:{p}" for a in facts.host_addresses() for p in sorted(ports) if facts.can_connect(a, p)
    ]
    if reachable:
        return Finding(
            "host_address_refusal",
            FAIL,
            f"Ollama ports answer on this host's addresses: {', '.join(reachable)}",
            "bind Ollama to loopback and firewall the port; check `ss -ltnp`",
        )
    return Finding(
        "host_address_refusal",
        PASS,
        "this host's non-loopback addresses refuse the Ollama ports (a refusal here does not rule "
        "out NAT or port forwarding in front of the host)",
    )


def ollama_host_env(facts: HostFacts) -> Finding:
    """An OLLAMA_HOST that binds every interface exposes Ollama."""
    value = facts.environ().get("OLLAMA_HOST", "").strip()
    host = value.split("://")[-1].rsplit(":", 1)[0].strip("[]") if value else ""
    if value and host in ("", "0.0.0.0", "::", "*"):
        return Finding(
            "ollama_host_env",
            FAIL,
            f"OLLAMA_HOST={value} binds all interfaces",
            "set OLLAMA_HOST=127.0.0.1:11434 (or the private address the gateway uses)",
        )
    return Finding("ollama_host_env", PASS, f"OLLAMA_HOST is {value or 'unset'}")


def compose_file(path: Path, facts: HostFacts) -> Finding:
    """No published port for ollama/postgres/redis/gateway; ollama on no host network."""
    text = facts.read_text(path)
    if text is None:
        return Finding("compose_file", PASS, f"no compose file at {path}")
    try:
        document: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return Finding(
            "compose_file", FAIL, f"{path} is not valid YAML ({type(exc).__name__})", "fix the file"
        )
    problems = []
    for name, service in (document.get("services") or {}).items():
        if not isinstance(service, dict) or not any(p in str(name) for p in PROTECTED_SERVICES):
            continue
        if service.get("ports"):
            problems.append(f"{name} publishes {service['ports']}")
        if "ollama" in str(name) and service.get("network_mode") == "host":
            problems.append(f"{name} uses network_mode: host")
    if problems:
        return Finding(
            "compose_file",
            FAIL,
            f"{path}: {'; '.join(problems)}",
            "remove `ports:` and host networking: the front proxy reaches the gateway over `proxy`",
        )
    return Finding(
        "compose_file", PASS, f"{path} publishes no port for ollama/postgres/redis/gateway"
    )


def gateway_bind(settings: Settings, facts: HostFacts) -> Finding:
    """The gateway itself should sit behind the front proxy, not on a public address."""
    host = settings.bind_host
    if host in ("127.0.0.1", "::1", "localhost"):
        return Finding(
            "gateway_bind", PASS, f"gateway listens on {host} (reached through the front proxy)"
        )
    if facts.in_container():
        return Finding(
            "gateway_bind",
            PASS,
            f"gateway listens on {host} inside a container (no published port needed)",
        )
    try:
        public = ipaddress.ip_address(host).is_global
    except ValueError:
        public = True
    status = FAIL if public else WARN
    return Finding(
        "gateway_bind",
        status,
        f"gateway listens on {host}",
        "bind GATEWAY_BIND_HOST=127.0.0.1 and let the front proxy (TLS) reach it",
    )


def weak_secrets(settings: Settings) -> Finding:
    """Default or short database passwords."""
    weak = []
    candidates = {"POSTGRES_PASSWORD": settings.postgres_password}
    if settings.database_url:
        candidates["DATABASE_URL password"] = urlsplit(settings.database_url).password
    for name, secret in candidates.items():
        if secret is not None and (secret.lower() in WEAK_SECRETS or len(secret) < 16):
            weak.append(name)
    if weak:
        return Finding(
            "weak_secrets",
            FAIL,
            f"weak or default: {', '.join(weak)}",
            "use a random password of at least 16 characters (e.g. `openssl rand -base64 24`)",
        )
    return Finding("weak_secrets", PASS, "no default or short database password configured")


def argon2_cost(settings: Settings) -> Finding:
    """Argon2id cost against OWASP's minimum table."""
    memory, time_cost = settings.argon2_memory_cost_kib, settings.argon2_time_cost
    if any(memory >= m and time_cost >= t for m, t in OWASP_ARGON2):
        return Finding(
            "argon2_cost", PASS, f"Argon2id m={memory} KiB, t={time_cost} meets the OWASP minimum"
        )
    return Finding(
        "argon2_cost",
        FAIL,
        f"Argon2id m={memory} KiB, t={time_cost} is below the OWASP minimum",
        "raise ARGON2_MEMORY_COST_KIB / ARGON2_TIME_COST (default 65536 KiB, 3)",
    )


def trusted_proxies(settings: Settings) -> Finding:
    """Trusting everybody's X-Forwarded-For lets clients pick their IP (and dodge throttles)."""
    everyone = [str(n) for n in settings.trusted_proxies if n.prefixlen == 0]
    if everyone:
        return Finding(
            "trusted_proxies",
            FAIL,
            f"GATEWAY_TRUSTED_PROXIES trusts everyone ({', '.join(everyone)})",
            "list only the front proxy's address",
        )
    public = [str(n) for n in settings.trusted_proxies if n.is_global]
    if public:
        return Finding(
            "trusted_proxies",
            WARN,
            f"trusted proxies on public addresses: {', '.join(public)}",
            "make sure these are your own proxies",
        )
    return Finding("trusted_proxies", PASS, "trusted proxies are loopback or private")


def state_dir(settings: Settings, facts: HostFacts) -> Finding:
    """The embedded database must not be readable by other users."""
    if settings.database_url is not None:
        return Finding("state_dir", PASS, "Postgres configured; no local database file")
    directory, database = Path(settings.state_dir), settings.sqlite_path
    modes = {str(directory): facts.mode(directory), str(database): facts.mode(database)}
    loose = [
        f"{path} ({oct(mode)})" for path, mode in modes.items() if mode is not None and mode & 0o077
    ]
    if loose:
        return Finding(
            "state_dir",
            FAIL,
            f"readable or writable by others: {', '.join(loose)}",
            f"chmod 700 {directory} && chmod 600 {database}",
        )
    return Finding("state_dir", PASS, f"{directory} is private to the gateway's user")


def docker_ports(facts: HostFacts) -> Finding:
    """Published ports of Ollama containers, when the Docker socket is readable (optional)."""
    containers = facts.docker_containers()
    if containers == "absent":
        return Finding("docker_ports", PASS, "no Docker socket on this host: nothing to inspect")
    if isinstance(containers, str):
        return Finding(
            "docker_ports",
            WARN,
            f"cannot read the Docker socket ({containers})",
            "run doctor with access to /var/run/docker.sock to check published ports",
        )
    published = [
        f"{(c.get('Names') or ['?'])[0]}:{p.get('PublicPort')}"
        for c in containers
        if "ollama" in str(c.get("Image", "")) + str(c.get("Names", ""))
        for p in c.get("Ports") or []
        if p.get("PublicPort")
    ]
    if published:
        return Finding(
            "docker_ports",
            FAIL,
            f"Ollama containers publish ports: {', '.join(published)}",
            "remove the port mappings; the gateway reaches Ollama over the internal network",
        )
    return Finding("docker_ports", PASS, "no Ollama container publishes a port")
