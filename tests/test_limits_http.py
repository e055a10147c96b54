"""Limits and budgets as clients meet them: headers, 429s, budgets under concurrency, Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import (
    FAST_ARGON2,
    GatewayProcess,
    MockOllama,
    Stack,
    free_port,
    make_stack,
    require_service,
)

from neuronetz_gateway.admin import keys, tenants

PROMPT = [{"role": "user", "content": "tell me about doors"}]
CHAT = {"model": "llama3.2", "messages": PROMPT, "stream": False}


def _stack_with(mock: MockOllama, tmp_path: Path, **env: str) -> Stack:
    return make_stack(
        {"GATEWAY_STATE_DIR": str(tmp_path / "state"), **FAST_ARGON2, **env}, mock, str(tmp_path)
    )


def test_every_authenticated_response_carries_rate_limit_headers(sqlite_stack: Stack) -> None:
    for response in (
        httpx.get(f"{sqlite_stack.url}/api/tags", headers=sqlite_stack.headers),
        httpx.post(f"{sqlite_stack.url}/api/chat", headers=sqlite_stack.headers, json=CHAT),
    ):
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit-requests"] == "60"
        assert int(response.headers["x-ratelimit-remaining-requests"]) < 60
        assert response.headers["x-ratelimit-limit-tokens"] == "100000"
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")


def test_requests_per_minute_refuse_with_429_and_retry_after_in_both_shapes(stack: Stack) -> None:
    stack.admin(lambda: tenants.update_tenant("acme", tenants.TenantChanges(limits={"rpm": 2})))
    time.sleep(1.2)  # the auth epoch moves; the new limit is live
    assert httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT).status_code == 200
    assert httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT).status_code == 200
    native = httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT)
    assert native.status_code == 429 and int(native.headers["retry-after"]) >= 1
    assert native.json() == {
        "error": "rate limit reached: too many requests per minute for this key"
    }
    assert native.headers["x-ratelimit-remaining-requests"] == "0"
    openai = httpx.get(f"{stack.url}/v1/models", headers=stack.headers)
    assert openai.status_code == 429
    assert openai.json()["error"]["code"] == "rate_limited"
    assert openai.json()["error"]["type"] == "rate_limit_error"


def test_concurrent_streams_never_overrun_a_budget_beyond_admitted_reservations(
    mock: MockOllama, tmp_path: Path
) -> None:
    stack = _stack_with(mock, tmp_path)
    try:
        changes = tenants.TenantChanges(limits={"daily_budget": 200})
        stack.admin(lambda: tenants.update_tenant("acme", changes))
        time.sleep(1.2)
        mock.config(token_delay_s=0.02, reply_tokens=1000)  # every answer runs to its cap
        body = {"model": "llama3.2", "messages": PROMPT, "options": {"num_predict": 60}}

        async def streams() -> list[tuple[int, int]]:
            async with httpx.AsyncClient(timeout=30) as client:

                async def one() -> tuple[int, int]:
                    url = f"{stack.url}/api/chat"
                    async with client.stream(
                        "POST", url, headers=stack.headers, json=body
                    ) as response:
                        lines = [line async for line in response.aiter_lines() if line]
                        return response.status_code, len(lines)

                return list(await asyncio.gather(*(one() for _ in range(10))))

        results = asyncio.run(streams())
        admitted = [n for status, n in results if status == 200]
        refused = [status for status, _ in results if status != 200]
        assert admitted and refused and set(refused) == {429}
        granted = [b["options"]["num_predict"] for b in mock.bodies("/api/chat")]
        assert sum(granted) + 4 * len(granted) <= 200  # every reservation fitted the budget
        deadline = time.monotonic() + 5
        while True:
            usage = httpx.get(f"{stack.url}/v1/usage", headers=stack.headers).json()
            daily = usage["tenant"]["budgets"]["daily"]
            if daily["used"] >= sum(granted) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert daily["limit"] == 200 and sum(granted) <= daily["used"] <= 200
    finally:
        stack.process.close()


def test_a_cancelled_streams_concurrency_slot_comes_back(mock: MockOllama, tmp_path: Path) -> None:
    stack = _stack_with(mock, tmp_path, DEFAULT_CONCURRENT="1")
    try:
        mock.config(token_delay_s=0.05, reply_tokens=1000)
        body = {"model": "llama3.2", "messages": PROMPT, "options": {"num_predict": 100}}
        with httpx.stream(
            "POST", f"{stack.url}/api/chat", headers=stack.headers, json=body
        ) as response:
            busy = httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT)
            assert busy.status_code == 429 and busy.json()["error"].startswith(
                "too many requests in flight"
            )
            next(response.iter_lines())  # leave after the first token
        deadline = time.monotonic() + 2
        short = {**CHAT, "options": {"num_predict": 2}}
        while (
            httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=short).status_code
            != 200
        ):
            assert time.monotonic() < deadline, "the cancelled stream kept its slot"
            time.sleep(0.05)
    finally:
        stack.process.close()


def test_usage_survives_a_restart(stack: Stack) -> None:
    for _ in range(3):
        assert (
            httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT).status_code == 200
        )
    assert stack.process.terminate() == 0  # SIGTERM flushes the ledger
    stack.process.close()
    again = make_stack_again(stack)
    try:
        used = httpx.get(f"{again.url}/v1/usage", headers=again.headers).json()
        assert used["key"]["budgets"]["total"]["used"] == 3 * (4 + 12)
        assert used["key"]["limits"] == {"rpm": 60, "tpm": 100000, "concurrent": 8}
    finally:
        again.process.close()


def make_stack_again(old: Stack) -> Stack:
    process = GatewayProcess(old.env, cwd=str(Path(old.env.get("GATEWAY_STATE_DIR", ".")).parent))
    process.wait_ready()
    return Stack(url=process.url, key=old.key, env=old.env, mock=old.mock, process=process)


def test_auth_throttle_cannot_be_dodged_by_rotating_forwarded_for(
    mock: MockOllama, tmp_path: Path
) -> None:
    stack = _stack_with(
        mock,
        tmp_path,
        AUTH_FAILURE_RATE_LIMIT_PER_IP_PER_MIN="3",
        GATEWAY_TRUSTED_PROXIES="10.0.0.0/8",
    )
    try:
        bad = {"Authorization": "Bearer nz_" + "x" * 57}
        statuses = [
            httpx.get(
                f"{stack.url}/api/tags", headers={**bad, "X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        throttled = httpx.get(
            f"{stack.url}/api/tags", headers={**stack.headers, "X-Forwarded-For": "1.2.3.4"}
        )
        assert throttled.status_code == 429 and throttled.json() == {
            "error": "too many failed authentications from this address"
        }
        assert int(throttled.headers["retry-after"]) >= 1
    finally:
        stack.process.close()


def test_cli_usage_report_matches_what_was_served(stack: Stack) -> None:
    for _ in range(2):
        httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT)
    time.sleep(1.5)  # the ledger writes once a second
    env = {**stack.env, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [
            ".venv/bin/python",
            "-m",
            "neuronetz_gateway",
            "usage",
            "--tenant",
            "acme",
            "--period",
            "day",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    rows = json.loads(result.stdout)
    assert {(r["scope"], r["requests"], r["total_tokens"]) for r in rows} == {
        ("tenant", 2, 32),
        ("key", 2, 32),
    }
    csv_out = subprocess.run(
        [".venv/bin/python", "-m", "neuronetz_gateway", "usage", "--key", stack.key[:11], "--csv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.splitlines()
    assert csv_out[0].startswith("scope,name,tenant,period_start,requests") and len(csv_out) == 2


def test_update_key_narrows_and_takes_effect(stack: Stack) -> None:
    stack.admin(lambda: keys.update_key(stack.key[:11], {"rpm": 1}))
    time.sleep(1.2)
    assert httpx.get(f"{stack.url}/api/tags", headers=stack.headers).status_code == 200
    assert httpx.get(f"{stack.url}/api/tags", headers=stack.headers).status_code == 429
    stack.admin(lambda: tenants.update_tenant("acme", tenants.TenantChanges(limits={"rpm": 5})))
    from neuronetz_gateway.admin.errors import AdminError

    with pytest.raises(AdminError, match="can only narrow"):
        stack.admin(lambda: keys.update_key(stack.key[:11], {"rpm": 10}))


@contextlib.contextmanager
def two_gateways(mock: MockOllama, tmp_path: Path, **env: str) -> Iterator[tuple[Stack, str]]:
    """Two gateways on one database and one Redis: yields the first stack and the other URL."""
    require_service("Redis", "127.0.0.1", 6379)
    # A fresh database numbers its first tenant and key 1 again: forget earlier runs' counters.
    with redis.Redis(host="127.0.0.1", port=6379) as client:
        stale = list(client.scan_iter("nz:{t*}:*"))
        if stale:
            client.delete(*stale)
    first = _stack_with(mock, tmp_path, REDIS_URL="redis://127.0.0.1:6379/0", **env)
    second = GatewayProcess(first.env, cwd=str(tmp_path))
    try:
        second.wait_ready()
        yield first, second.url
    finally:
        first.process.close()
        second.close()


@pytest.mark.redis
def test_two_gateways_on_one_redis_share_every_limit(mock: MockOllama, tmp_path: Path) -> None:
    with two_gateways(mock, tmp_path, DEFAULT_RPM="5") as (first, second_url):
        urls = [first.url, second_url] * 4
        statuses = [httpx.get(f"{url}/api/tags", headers=first.headers).status_code for url in urls]
        assert statuses.count(200) == 5 and statuses[5:] == [429, 429, 429]


@pytest.mark.redis
def test_two_gateways_on_one_redis_share_concurrency(mock: MockOllama, tmp_path: Path) -> None:
    with two_gateways(mock, tmp_path, DEFAULT_CONCURRENT="1") as (first, second_url):
        mock.config(token_delay_s=0.05, reply_tokens=1000)
        body = {"model": "llama3.2", "messages": PROMPT, "options": {"num_predict": 60}}
        with httpx.stream(
            "POST", f"{first.url}/api/chat", headers=first.headers, json=body
        ) as response:
            lines = response.iter_lines()  # keep it: a dropped iterator closes the response
            next(lines)
            other = httpx.post(f"{second_url}/api/chat", headers=first.headers, json=body)
            assert other.status_code == 429
            assert other.json()["error"].startswith("too many requests in flight")


@pytest.mark.redis
def test_redis_going_away_fails_closed_and_recovers(mock: MockOllama, tmp_path: Path) -> None:
    port = free_port()
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _wait_port(port)
    stack = _stack_with(mock, tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        assert (
            httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT).status_code == 200
        )
        server.terminate()
        server.wait(timeout=10)
        down = httpx.post(
            f"{stack.url}/v1/chat/completions",
            headers=stack.headers,
            json={"model": "llama3.2", "messages": PROMPT},
        )
        assert down.status_code == 503 and down.json()["error"]["code"] == "limits_unavailable"
        ready = httpx.get(f"{stack.url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith(
            "unavailable"
        )
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait_port(port)
        deadline = time.monotonic() + 10
        while (
            httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT).status_code != 200
        ):
            assert time.monotonic() < deadline, "did not recover after Redis came back"
            time.sleep(0.2)
        assert httpx.get(f"{stack.url}/readyz").status_code == 200
    finally:
        stack.process.close()
        server.terminate()
        server.wait(timeout=10)


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")
