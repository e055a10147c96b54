"""The limit store contract: one suite, run against the in-process store and the Redis store."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from conftest import REDIS_HOST, REDIS_PORT, require_service
from redis.asyncio import Redis

from neuronetz_gateway.limits.effective import Quota
from neuronetz_gateway.limits.memory_store import MemoryStore
from neuronetz_gateway.limits.redis_store import RedisStore
from neuronetz_gateway.limits.store import Admission, LimitStore

PERIODS = {"day": "2026-11-23", "month": "2026-11", "total": "all"}
BASELINES: dict[tuple[str, int, str, str], int] = {}


async def baseline(scope: str, scope_id: int, period: str, start: str) -> int:
    return BASELINES.get((scope, scope_id, period, start), 0)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    BASELINES.clear()
    if request.param == "memory":
        yield MemoryStore(baseline, lease_ttl_s=1.0)
        return
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    client = Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        yield RedisStore(client, baseline, lease_ttl_s=1.0)
    finally:
        await client.aclose()


def quotas(
    rpm: int = 1000, tpm: int = 100_000, concurrent: int = 100, **budgets: int | None
) -> tuple[Quota, Quota]:
    """A fresh key and tenant (random ids keep Redis runs apart)."""
    tenant_id, key_id = random.randrange(10**9), random.randrange(10**9)
    tenant = Quota("tenant", tenant_id, 10_000, 10_000_000, 1000, None, None, None)
    key = Quota(
        "key",
        key_id,
        rpm,
        tpm,
        concurrent,
        budgets.get("daily"),
        budgets.get("monthly"),
        budgets.get("total"),
    )
    return key, tenant


def ask(
    key: Quota, tenant: Quota, prompt: int = 0, completion: int = 0, lease: bool = False
) -> Admission:
    return Admission(key, tenant, prompt, completion, lease, PERIODS)


async def test_requests_per_minute_and_headers(store: LimitStore) -> None:
    key, tenant = quotas(rpm=3)
    decisions = [await store.admit(ask(key, tenant)) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.headroom.remaining_requests for d in decisions[:3]] == [2, 1, 0]
    assert decisions[0].headroom.limit_requests == 3
    refused = decisions[3]
    assert (refused.code, refused.scope) == ("rate_limited", "key")
    assert 19 <= refused.retry_after_s <= 20.5


async def test_a_key_narrows_its_tenant_and_the_tenant_sums_its_keys(store: LimitStore) -> None:
    first, tenant = quotas(rpm=2)
    tenant = replace(tenant, rpm=3)
    second = replace(first, scope_id=first.scope_id + 1)
    results = [(await store.admit(ask(k, tenant))) for k in (first, first, first, second, second)]
    assert [(d.allowed, d.scope) for d in results] == [
        (True, None),
        (True, None),
        (False, "key"),
        (True, None),
        (False, "tenant"),
    ]


async def test_tokens_per_minute_reserve_up_front_and_correct_at_settlement(
    store: LimitStore,
) -> None:
    key, tenant = quotas(tpm=100)
    first = await store.admit(ask(key, tenant, prompt=10, completion=50))
    assert (
        first.allowed and first.granted_completion == 50 and first.headroom.remaining_tokens == 40
    )
    refused = await store.admit(ask(key, tenant, prompt=10, completion=50))
    assert (refused.allowed, refused.code) == (False, "tokens_rate_limited")
    assert first.ticket is not None
    await store.settle(first.ticket, used_tokens=20)  # 40 of the 60 reserved come back
    assert (await store.admit(ask(key, tenant, prompt=10, completion=50))).allowed


async def test_completion_cap_never_exceeds_what_tpm_can_hold(store: LimitStore) -> None:
    key, tenant = quotas(tpm=100)
    decision = await store.admit(ask(key, tenant, prompt=10, completion=4096))
    assert decision.allowed and decision.granted_completion == 90


async def test_concurrency_slots_come_back_on_settle_and_on_lease_expiry(store: LimitStore) -> None:
    key, tenant = quotas(concurrent=2)
    held = [
        await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True)) for _ in range(2)
    ]
    third = await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))
    assert (third.allowed, third.code) == (False, "concurrency_limited")
    assert held[0].ticket is not None
    await store.settle(held[0].ticket, 2)
    assert (await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))).allowed
    # Nobody settles the other two (a crashed worker): their leases lapse after the TTL (1 s here).
    assert not (await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))).allowed
    await asyncio.sleep(1.2)
    assert (await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))).allowed


async def test_renewed_leases_outlive_their_ttl(store: LimitStore) -> None:
    key, tenant = quotas(concurrent=1)
    held = await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))
    assert held.ticket is not None
    for _ in range(3):
        await asyncio.sleep(0.5)
        await store.renew(held.ticket)
    assert not (await store.admit(ask(key, tenant, prompt=1, completion=1, lease=True))).allowed


async def test_budgets_clamp_the_completion_then_refuse(store: LimitStore) -> None:
    key, tenant = quotas(daily=100)
    first = await store.admit(ask(key, tenant, prompt=10, completion=50))
    second = await store.admit(ask(key, tenant, prompt=10, completion=50))
    assert (first.granted_completion, second.granted_completion) == (50, 30)
    refused = await store.admit(ask(key, tenant, prompt=10, completion=50))
    assert (refused.allowed, refused.code, refused.scope) == (False, "budget_exceeded", "key")
    assert 0 < refused.retry_after_s <= 86400
    assert first.ticket is not None
    await store.settle(first.ticket, used_tokens=20)  # 40 unused tokens return to the budget
    assert (await store.admit(ask(key, tenant, prompt=10, completion=50))).granted_completion == 30


async def test_budgets_start_from_the_durable_counters(store: LimitStore) -> None:
    key, tenant = quotas(monthly=100)
    BASELINES[("key", key.scope_id, "month", "2026-11")] = 95
    refused = await store.admit(ask(key, tenant, prompt=10, completion=50))
    assert (refused.allowed, refused.code) == (False, "budget_exceeded")
    assert (await store.admit(ask(key, tenant, prompt=3, completion=50))).granted_completion == 2


async def test_calls_without_tokens_ignore_budgets(store: LimitStore) -> None:
    key, tenant = quotas(total=0)
    assert (await store.admit(ask(key, tenant))).allowed
    assert not (await store.admit(ask(key, tenant, prompt=1))).allowed


async def test_auth_failures_are_throttled_per_ip(store: LimitStore) -> None:
    ip = f"198.51.100.{random.randrange(256)}-{random.randrange(10**6)}"
    for _ in range(3):
        assert await store.auth_retry_after(ip, 3) == 0
        await store.auth_failed(ip, 3)
    assert 19 <= await store.auth_retry_after(ip, 3) <= 20.5
    assert await store.auth_retry_after(ip + "-other", 3) == 0
