"""The zipapp and the systemd unit: built and checked for real."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import FAST_ARGON2, free_port

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "neuronetz-gateway.service"
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet=",
)


def test_unit_runs_the_pyz_unprivileged_and_hardened() -> None:
    text = UNIT.read_text()
    for line in (
        *HARDENING,
        "User=neuronetz-gateway",
        "StateDirectory=neuronetz-gateway",
        "Restart=on-failure",
        "EnvironmentFile=/etc/neuronetz-gateway/gateway.env",
    ):
        assert line in text.splitlines(), line
    assert "ExecStartPre=/opt/neuronetz-gateway/neuronetz-gateway.pyz migrate" in text
    assert "SHIV_ROOT=" in text


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, (
        "systemd-analyze is missing: scripts/bootstrap installs Debian's systemd package"
    )
    # A private root with the distribution's units and the pyz path the unit names.
    shutil.copytree("/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, tmp_path / "etc/systemd/system")
    pyz = tmp_path / "opt/neuronetz-gateway/neuronetz-gateway.pyz"
    pyz.parent.mkdir(parents=True)
    pyz.write_text("#!/bin/sh\n")
    pyz.chmod(0o755)
    result = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", "/etc/systemd/system/neuronetz-gateway.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.slow
def test_pyz_builds_and_serves_from_another_directory(tmp_path: Path) -> None:
    build = subprocess.run(
        ["./packaging/build.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert build.returncode == 0, build.stderr[-2000:]
    pyz = shutil.copy(ROOT / "dist" / "neuronetz-gateway.pyz", tmp_path / "neuronetz-gateway.pyz")
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {"PATH": os.environ["PATH"], "SHIV_ROOT": str(tmp_path / "shiv"), **FAST_ARGON2}

    def pyz_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pyz, *args], cwd=run_dir, env=env, capture_output=True, text=True, timeout=120
        )

    assert pyz_run("migrate").returncode == 0
    assert pyz_run("migrate", "--check").returncode == 0
    assert pyz_run("create-tenant", "--name", "acme").returncode == 0
    assert pyz_run("create-key", "--tenant", "acme", "--name", "k").stdout.count("nz_") == 2
    port = free_port()
    server = subprocess.Popen(
        [pyz, "serve", "--port", str(port)],
        cwd=run_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_healthy(f"http://127.0.0.1:{port}/healthz")
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
    assert (run_dir / "state" / "neuronetz-gateway.sqlite3").is_file()


def _wait_healthy(url: str, timeout: float = 30) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=1).json() == {"status": "ok"}
        except httpx.HTTPError:
            time.sleep(0.1)
    return False
