"""Shared fixtures: the two storage engines, service availability, and a server on a free port.

Postgres and Redis are real servers on loopback. Without CI they are skipped when missing; with
CI=true a missing service fails the run instead (a green CI must have tested both engines).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from neuronetz_gateway.admin import keys, tenants
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.config import Settings, load_settings
from neuronetz_gateway.db.engine import Database, open_database
from neuronetz_gateway.db.migrate import apply_migrations
from neuronetz_gateway.db.records import Limits

T = TypeVar("T")

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
IN_CI = os.environ.get("CI", "").lower() == "true"

# Argon2 at the production cost takes ~150 ms per hash; tests prove behaviour, not cost.
FAST_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "1024", "ARGON2_PARALLELISM": "1"}


def service_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally, fail under CI=true, when a real service is not there."""
    if service_reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} and CI=true: the {name} tests must run in CI")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for one test, dropped afterwards."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"nz_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> dict[str, str]:
    """Environment for one engine: SQLite in a temp state dir, or a fresh Postgres database."""
    env = {"GATEWAY_STATE_DIR": os.path.join(tmp_path, "state"), **FAST_ARGON2}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return env


@pytest.fixture
def settings(db_env: dict[str, str]) -> Settings:
    return load_settings(db_env)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """A migrated database on each engine."""
    db = await open_database(settings)
    await apply_migrations(db)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def cli_env(
    db_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> dict[str, str]:
    """The process environment the CLI reads, pointed at one engine, from an empty directory."""
    for name in ("DATABASE_URL", "REDIS_URL", "OLLAMA_BACKENDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in db_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return db_env


class GatewayProcess:
    """`neuronetz-gateway serve` in a child process on a free loopback port."""

    def __init__(self, env: dict[str, str], cwd: str, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "neuronetz_gateway", "serve", "--port", str(self.port), *args],
            env=full_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: str | None = None

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("gateway did not become healthy")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; a gateway that does not stop is killed and its output shown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(
                f"gateway ignored SIGTERM for {timeout} s:\n{self.output()[-4000:]}"
            ) from None

    def output(self) -> str:
        """Everything the process printed (stops it first)."""
        if self._output is None:
            if self.process.poll() is None:
                self.terminate()
            assert self.process.stdout is not None
            self._output = self.process.stdout.read()
            self.process.stdout.close()
        return self._output

    def close(self) -> None:
        self.output()


@pytest.fixture
def gateway(db_env: dict[str, str], tmp_path: os.PathLike[str]) -> Iterator[GatewayProcess]:
    """A running gateway on one engine (migrated at start by `serve`)."""
    process = GatewayProcess(db_env, cwd=os.fspath(tmp_path))
    try:
        process.wait_ready()
        yield process
    finally:
        process.close()


class MockOllama:
    """Client for the mock Ollama's `/_mock/` controls."""

    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = httpx.get(f"{self.url}/_mock/requests").json()
        return result

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests()]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests() if r["path"] == path]

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/_mock/state").json()
        return result

    def fault(self, **fault: Any) -> None:
        httpx.post(f"{self.url}/_mock/fault", json=fault).raise_for_status()

    def config(self, **config: Any) -> None:
        httpx.post(f"{self.url}/_mock/config", json=config).raise_for_status()


def start_mock(
    port: int | None = None, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neuronetz_gateway",
            "mock-ollama",
            "--host",
            host,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("mock Ollama did not start")


@pytest.fixture(scope="session")
def mock_ollama_url() -> Iterator[str]:
    process, url = start_mock()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def mock(mock_ollama_url: str) -> MockOllama:
    """The shared mock Ollama, reset to its defaults for this test."""
    httpx.post(f"{mock_ollama_url}/_mock/reset").raise_for_status()
    return MockOllama(mock_ollama_url)


@dataclass
class Stack:
    """A gateway in front of the mock Ollama, with tenant `acme` and one key for it."""

    url: str
    key: str
    env: dict[str, str]
    mock: MockOllama
    process: GatewayProcess

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def admin(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run an admin action against the gateway's own database."""
        return asyncio.run(_with_db(load_settings(self.env), action))


async def _with_db(settings: Settings, action: Callable[[], Awaitable[T]]) -> T:
    db = await open_database(settings, pool=False)
    try:
        await apply_migrations(db)
        return await action()
    finally:
        await db.close()


def make_stack(
    env: dict[str, str], mock: MockOllama, cwd: str, tenant_models: tuple[str, ...] | None = None
) -> Stack:
    env = {"OLLAMA_BASE_URL": mock.url, "MODEL_DISCOVERY_REFRESH_S": "0.5", **env}
    settings = load_settings(env)
    hasher = KeyHasher.from_settings(settings)

    async def seed() -> str:
        await tenants.create_tenant("acme", Limits(), tenant_models)
        return (await keys.create_key(hasher, "acme", "test")).token

    token = asyncio.run(_with_db(settings, seed))
    process = GatewayProcess(env, cwd=cwd)
    try:
        process.wait_ready()
    except BaseException:
        process.close()
        raise
    return Stack(url=process.url, key=token, env=env, mock=mock, process=process)


@pytest.fixture
def stack(db_env: dict[str, str], mock: MockOllama, tmp_path: os.PathLike[str]) -> Iterator[Stack]:
    """A gateway on each storage engine in front of the mock."""
    built = make_stack(db_env, mock, os.fspath(tmp_path))
    try:
        yield built
    finally:
        built.process.close()


@pytest.fixture(scope="module")
def _module_stack(
    mock_ollama_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack")
    env = {"GATEWAY_STATE_DIR": os.fspath(home / "state"), **FAST_ARGON2}
    built = make_stack(env, MockOllama(mock_ollama_url), os.fspath(home))
    try:
        yield built
    finally:
        built.process.close()


@pytest.fixture
def sqlite_stack(_module_stack: Stack, mock: MockOllama) -> Stack:
    """A gateway on embedded SQLite in front of the (freshly reset) mock, shared by a module's
    tests that leave tenants and keys alone."""
    return _module_stack


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_test_that_made_it() -> Iterator[None]:
    """Collect after each test, so a leaked socket or pipe fails the test that leaked it."""
    yield
    gc.collect()
