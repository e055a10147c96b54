"""Compose stacks, image, .env.example and backend commands, as far as this machine allows.

No Docker engine runs here: the compose files are checked by parsing them (and with
`docker compose config` when the plugin is installed), the Dockerfile by reading it, and the
entrypoint by running it directly.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from neuronetz_gateway.config import setting_infos
from neuronetz_gateway.doctor import checks
from neuronetz_gateway.doctor.facts import RealHostFacts

ROOT = Path(__file__).resolve().parent.parent


def _compose(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return document


def test_production_compose_publishes_no_port_and_keeps_ollama_internal() -> None:
    services = _compose("docker-compose.yml")["services"]
    assert set(services) == {"gateway", "postgres", "redis", "ollama"}
    assert all("ports" not in s for s in services.values())
    assert all(s.get("network_mode") is None for s in services.values())
    assert {s["container_name"] for s in services.values()} == {
        "neuronetz-gateway",
        "neuronetz-postgres",
        "neuronetz-redis",
        "neuronetz-ollama",
    }
    assert services["ollama"]["networks"] == ["internal"]
    assert set(services["gateway"]["networks"]) == {"internal", "proxy"}
    networks = _compose("docker-compose.yml")["networks"]
    assert networks["proxy"] == {"external": True} and networks["internal"]["internal"] is True
    gateway = services["gateway"]["environment"]
    assert {"VIRTUAL_HOST", "VIRTUAL_PORT", "LETSENCRYPT_HOST", "LETSENCRYPT_EMAIL"} <= set(gateway)
    assert "${POSTGRES_PASSWORD:?" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "${POSTGRES_PASSWORD:?" in gateway["DATABASE_URL"]
    assert all("healthcheck" in services[s] for s in ("postgres", "redis"))
    assert services["gateway"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dev_compose_publishes_the_gateway_on_loopback_only() -> None:
    services = _compose("docker-compose.dev.yml")["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"gateway": ["127.0.0.1:8080:8080"]}


def test_doctor_passes_the_shipped_compose_file_and_fails_a_published_ollama(
    tmp_path: Path,
) -> None:
    facts = RealHostFacts()
    assert checks.compose_file(ROOT / "docker-compose.yml", facts).status == "PASS"
    document = _compose("docker-compose.yml")
    document["services"]["ollama"]["ports"] = ["11434:11434"]
    leaked = tmp_path / "docker-compose.yml"
    leaked.write_text(yaml.safe_dump(document))
    finding = checks.compose_file(leaked, facts)
    assert finding.status == "FAIL" and "ollama publishes" in finding.message


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="the docker compose plugin is not installed on this machine",
)
def test_docker_compose_config_accepts_the_files(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "x" * 24,
        "GATEWAY_VIRTUAL_HOST": "api.example.com",
        "LETSENCRYPT_EMAIL": "ops@example.com",
    }
    for name in ("docker-compose.yml", "docker-compose.dev.yml"):
        result = subprocess.run(
            ["docker", "compose", "-f", name, "config", "-q"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr


def test_dockerfile_runs_unprivileged_with_a_healthcheck_and_hash_checked_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in text and "--uid 10001" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "--require-hashes -r packaging/requirements.lock" in text
    assert "GATEWAY_BIND_HOST=0.0.0.0" in text
    assert text.count("FROM ") == 2  # multi-stage: build tools stay out of the image


def test_entrypoint_migrates_before_serving(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "neuronetz-gateway").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    (fake_bin / "neuronetz-gateway").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin"}
    subprocess.run([ROOT / "docker" / "entrypoint.sh"], env=env, check=True)
    subprocess.run(
        [ROOT / "docker" / "entrypoint.sh", "list-tenants", "--json"], env=env, check=True
    )
    assert (tmp_path / "calls").read_text().splitlines() == [
        "migrate",
        "serve --no-migrate",
        "list-tenants --json",
    ]


def test_env_example_lists_every_setting_and_is_generated() -> None:
    text = (ROOT / ".env.example").read_text()
    assert all(f"\n{s.env}=" in text for s in setting_infos())
    result = subprocess.run(
        [sys.executable, "env_example.py"],
        cwd=ROOT / "scripts",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == text, "run: cd scripts && python env_example.py > ../.env.example"


def _cli(env_file: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "neuronetz_gateway", "--env-file", str(env_file), *args]
    if user is not None:
        command = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *command]
    return subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin"},
        cwd=env_file.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backend_commands_edit_the_env_file_atomically(tmp_path: Path) -> None:
    env_file = tmp_path / "gateway.env"
    env_file.write_text("# mine\nOLLAMA_BASE_URL=http://127.0.0.1:11434\nDEFAULT_RPM=30\n")
    env_file.chmod(0o640)
    added = _cli(env_file, "add-backend", "http://10.0.0.5:11434", "--name", "gpu1")
    assert added.returncode == 0, added.stderr
    line = "OLLAMA_BACKENDS=default=http://127.0.0.1:11434,gpu1=http://10.0.0.5:11434"
    assert added.stdout.splitlines()[0] == f"wrote {line} to {env_file}"
    assert (
        env_file.read_text()
        == f"# mine\nOLLAMA_BASE_URL=http://127.0.0.1:11434\nDEFAULT_RPM=30\n{line}\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    listed = _cli(env_file, "list-backends", "--json")
    assert '"gpu1"' in listed.stdout
    removed = _cli(env_file, "remove-backend", "default")
    assert removed.returncode == 0
    assert "OLLAMA_BACKENDS=gpu1=http://10.0.0.5:11434\n" in env_file.read_text()
    last = _cli(env_file, "remove-backend", "gpu1")
    assert (
        last.returncode == 1
        and last.stderr == "error: cannot remove the last backend: the gateway needs at least one\n"
    )
    duplicate = _cli(env_file, "add-backend", "http://10.0.0.5:11434")
    assert duplicate.returncode == 1 and "already configured" in duplicate.stderr
    bad = _cli(env_file, "add-backend", "ftp://x")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_an_unwritable_env_file_gets_the_line_to_paste_and_exit_1() -> None:
    # Like a host-owned .env bind-mounted into a container: readable, not writable by its user.
    home = Path(tempfile.mkdtemp(prefix="nz-envfile-", dir="/tmp"))
    home.chmod(0o755)
    env_file = home / "gateway.env"
    env_file.write_text("OLLAMA_BASE_URL=http://127.0.0.1:11434\n")
    env_file.chmod(0o644)
    try:
        result = _cli(
            env_file, "add-backend", "http://10.0.0.5:11434", "--name", "gpu1", user="65534"
        )
    finally:
        content = env_file.read_text()
        shutil.rmtree(home)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot write {env_file}: Permission denied",
        "Either re-run as a user who may write it (in the container: "
        "`docker compose exec -u root gateway neuronetz-gateway …`),",
        f"or put this line into {env_file} by hand:",
        "  OLLAMA_BACKENDS=default=http://127.0.0.1:11434,gpu1=http://10.0.0.5:11434",
    ]
    assert content == "OLLAMA_BASE_URL=http://127.0.0.1:11434\n"
