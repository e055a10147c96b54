"""`serve`: probes, the JSON 404 fallback, worker rules and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from conftest import FAST_ARGON2, PG_ADMIN_DSN, GatewayProcess, Stack, require_service


def test_healthz_and_readyz_answer(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["backends"].startswith("ok")


def test_readyz_is_503_naming_the_backends_when_none_answers(gateway: GatewayProcess) -> None:
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["backends"].startswith("unavailable")
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_unknown_paths_get_a_json_404_in_the_surface_shape(gateway: GatewayProcess) -> None:
    native = httpx.get(f"{gateway.url}/api/nothing")
    assert native.status_code == 404 and native.json() == {"error": "404 page not found"}
    openai = httpx.post(f"{gateway.url}/v1/responses", json={})
    assert openai.status_code == 404
    assert openai.json()["error"]["code"] == "not_found"
    assert set(openai.json()["error"]) == {"message", "type", "code", "param"}
    assert "server" not in {k.lower() for k in openai.headers}


def test_sigterm_stops_the_server_with_exit_0(gateway: GatewayProcess) -> None:
    assert gateway.terminate() == 0
    assert "Traceback" not in gateway.output()


def test_two_workers_without_redis_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "serve", "--workers", "2"],
        env={"PATH": os.environ["PATH"], "GATEWAY_STATE_DIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers 2 needs REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.redis
def test_two_workers_with_redis_serve_and_stop_cleanly(tmp_path: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    env = {
        "GATEWAY_STATE_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        **FAST_ARGON2,
    }
    process = GatewayProcess(env, cwd=str(tmp_path), args=("--workers", "2"))
    process.wait_ready()
    assert httpx.get(f"{process.url}/healthz").status_code == 200
    assert process.terminate() == 0
    process.close()


@pytest.mark.postgres
def test_readyz_names_the_database_when_it_goes_away(postgres_url: str, tmp_path: Path) -> None:
    process = GatewayProcess({"DATABASE_URL": postgres_url, **FAST_ARGON2}, cwd=str(tmp_path))
    try:
        process.wait_ready()
        name = postgres_url.rsplit("/", 1)[1]
        asyncio.run(_drop(name))
        ready = httpx.get(f"{process.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unavailable")
        assert httpx.get(f"{process.url}/healthz").status_code == 200
    finally:
        process.close()


def test_unreachable_database_at_boot_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "serve"],
        env={"PATH": os.environ["PATH"], "DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: database unavailable")
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


async def _drop(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await connection.close()
