"""`doctor`: each check PASS and FAIL on a made-up host, then for real on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_ARGON2, free_port, start_mock

from neuronetz_gateway.config import load_settings
from neuronetz_gateway.doctor import checks
from neuronetz_gateway.doctor.checks import FAIL, PASS, WARN
from neuronetz_gateway.doctor.facts import FakeHostFacts, Listener, parse_proc_net

LOCAL = load_settings({"OLLAMA_BASE_URL": "http://127.0.0.1:11434"})

PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
PROC_NET_TCP6 = """  sl  local_address                         remote_address                     st
   0: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000001000000:2CAA 00000000000000000000000000000000:0000 0A
"""


def test_proc_net_parsing_finds_listeners_on_both_families() -> None:
    assert parse_proc_net(PROC_NET_TCP, v6=False) == [
        Listener("127.0.0.1", 11434),
        Listener("0.0.0.0", 11434),
    ]
    assert parse_proc_net(PROC_NET_TCP6, v6=True) == [Listener("::", 11434), Listener("::1", 11434)]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("http://127.0.0.1:11434", PASS),
        ("http://10.0.0.5:11434", PASS),
        ("http://ollama:11434", PASS),
        ("http://8.8.8.8:11434", FAIL),
        ("http://ollama.example.com:11434", FAIL),
    ],
)
def test_backend_addresses(url: str, status: str) -> None:
    assert checks.backend_addresses(load_settings({"OLLAMA_BASE_URL": url})).status == status


def test_listeners_outside_loopback_fail_and_the_pass_says_what_it_cannot_see() -> None:
    safe = checks.ollama_listeners(LOCAL, FakeHostFacts(listening=[Listener("127.0.0.1", 11434)]))
    assert safe.status == PASS and "namespace" in safe.message
    exposed = checks.ollama_listeners(LOCAL, FakeHostFacts(listening=[Listener("::", 11434)]))
    assert exposed.status == FAIL and ":::11434" in exposed.message


def test_host_addresses_must_refuse_the_ollama_port() -> None:
    facts = FakeHostFacts(addresses=["192.168.1.10"])
    refused = checks.host_address_refusal(LOCAL, facts)
    assert refused.status == PASS and "NAT" in refused.message
    facts.open_ports.add(("192.168.1.10", 11434))
    assert checks.host_address_refusal(LOCAL, facts).status == FAIL


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("", PASS),
        ("127.0.0.1:11434", PASS),
        ("0.0.0.0:11434", FAIL),
        ("0.0.0.0", FAIL),
        ("[::]:11434", FAIL),
        ("http://0.0.0.0:11434", FAIL),
    ],
)
def test_ollama_host_binding_all_interfaces_fails(value: str, status: str) -> None:
    assert checks.ollama_host_env(FakeHostFacts(env={"OLLAMA_HOST": value})).status == status


@pytest.mark.parametrize(
    ("compose", "status"),
    [
        (None, PASS),
        ("services:\n  ollama:\n    image: ollama/ollama\n    networks: [internal]\n", PASS),
        ("services:\n  ollama:\n    image: ollama/ollama\n    ports: ['11434:11434']\n", FAIL),
        ("services:\n  postgres:\n    image: postgres\n    ports: ['5432:5432']\n", FAIL),
        ("services:\n  ollama:\n    image: ollama/ollama\n    network_mode: host\n", FAIL),
        ("services: [unclosed\n", FAIL),
    ],
)
def test_compose_file_publishes_nothing(compose: str | None, status: str) -> None:
    facts = FakeHostFacts(files={"docker-compose.yml": compose} if compose is not None else {})
    assert checks.compose_file(Path("docker-compose.yml"), facts).status == status


def test_gateway_bind_address() -> None:
    assert checks.gateway_bind(LOCAL, FakeHostFacts()).status == PASS
    everywhere = load_settings({"GATEWAY_BIND_HOST": "0.0.0.0"})
    assert checks.gateway_bind(everywhere, FakeHostFacts()).status == WARN
    assert checks.gateway_bind(everywhere, FakeHostFacts(container=True)).status == PASS
    assert (
        checks.gateway_bind(load_settings({"GATEWAY_BIND_HOST": "8.8.4.4"}), FakeHostFacts()).status
        == FAIL
    )


def test_weak_secrets_argon2_and_trusted_proxies() -> None:
    assert checks.weak_secrets(load_settings({"POSTGRES_PASSWORD": "postgres"})).status == FAIL
    assert (
        checks.weak_secrets(
            load_settings({"DATABASE_URL": "postgresql://gw:changeme@db/gw"})
        ).status
        == FAIL
    )
    assert (
        checks.weak_secrets(load_settings({"POSTGRES_PASSWORD": "Zq8vK2mW9xL4pT7rB1nC"})).status
        == PASS
    )
    assert checks.argon2_cost(LOCAL).status == PASS
    assert checks.argon2_cost(load_settings(FAST_ARGON2)).status == FAIL
    assert (
        checks.trusted_proxies(load_settings({"GATEWAY_TRUSTED_PROXIES": "0.0.0.0/0"})).status
        == FAIL
    )
    assert (
        checks.trusted_proxies(load_settings({"GATEWAY_TRUSTED_PROXIES": "8.8.8.0/24"})).status
        == WARN
    )
    assert checks.trusted_proxies(LOCAL).status == PASS


def test_state_directory_permissions() -> None:
    settings = load_settings({"GATEWAY_STATE_DIR": "/var/lib/nz"})
    private = FakeHostFacts(
        modes={"/var/lib/nz": 0o700, "/var/lib/nz/neuronetz-gateway.sqlite3": 0o600}
    )
    assert checks.state_dir(settings, private).status == PASS
    loose = FakeHostFacts(
        modes={"/var/lib/nz": 0o755, "/var/lib/nz/neuronetz-gateway.sqlite3": 0o644}
    )
    assert checks.state_dir(settings, loose).status == FAIL


def _doctor(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "doctor", *args],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def safe_env(tmp_path: Path) -> dict[str, str]:
    subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "migrate"],
        cwd=tmp_path,
        check=True,
        env={"PATH": os.environ["PATH"], "GATEWAY_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
    )
    return {"GATEWAY_STATE_DIR": str(tmp_path / "state")}


def test_a_safe_embedded_setup_passes(safe_env: dict[str, str], tmp_path: Path) -> None:
    process, url = start_mock()
    try:
        result = _doctor({**safe_env, "OLLAMA_BASE_URL": url}, tmp_path, "--json")
    finally:
        process.terminate()
        process.wait(timeout=10)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert all(set(c) == {"name", "status", "message", "fix"} for c in report["checks"])
    assert {c["status"] for c in report["checks"]} <= {PASS, WARN}
    assert {"configuration", "database", "ollama_listeners", "compose_file"} <= {
        c["name"] for c in report["checks"]
    }


def test_a_backend_listening_on_all_interfaces_fails(
    safe_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    process, _ = start_mock(port=port, host="0.0.0.0")
    try:
        result = _doctor({**safe_env, "OLLAMA_BASE_URL": f"http://127.0.0.1:{port}"}, tmp_path)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result.returncode == 1
    assert (
        f"FAIL  ollama_listeners: listening outside loopback on an Ollama port: 0.0.0.0:{port}"
        in result.stdout
    )


def test_a_compose_file_publishing_ollama_fails(safe_env: dict[str, str], tmp_path: Path) -> None:
    compose = tmp_path / "compose.yml"
    compose.write_text(
        "services:\n  ollama:\n    image: ollama/ollama\n    ports: ['11434:11434']\n"
    )
    process, url = start_mock()
    try:
        result = _doctor(
            {**safe_env, "OLLAMA_BASE_URL": url}, tmp_path, "--compose-file", str(compose)
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result.returncode == 1 and "FAIL  compose_file" in result.stdout
    assert "fix: remove `ports:`" in result.stdout


def test_docker_published_ports_when_the_socket_is_readable() -> None:
    assert checks.docker_ports(FakeHostFacts(containers="absent")).status == PASS
    assert checks.docker_ports(FakeHostFacts(containers="PermissionError")).status == WARN
    internal = [
        {
            "Names": ["/neuronetz-ollama"],
            "Image": "ollama/ollama",
            "Ports": [{"PrivatePort": 11434}],
        }
    ]
    assert checks.docker_ports(FakeHostFacts(containers=internal)).status == PASS
    published = [
        {
            "Names": ["/ollama"],
            "Image": "ollama/ollama",
            "Ports": [{"PrivatePort": 11434, "PublicPort": 11434, "IP": "0.0.0.0"}],
        }
    ]
    failed = checks.docker_ports(FakeHostFacts(containers=published))
    assert failed.status == FAIL and "/ollama:11434" in failed.message
