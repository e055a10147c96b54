"""What one admission + settlement costs in each limit store (the per-request price of steps 7-8).

    .venv/bin/python bench/limits.py [--calls N]

Runs N sequential admit+settle pairs against the in-process store and against the Redis store
(127.0.0.1:6379), with a budget on the key so every limit kind is exercised, and prints the mean
and p99 per pair. Bounded by count and by a 30 s time limit per store.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from redis.asyncio import BlockingConnectionPool, Redis

from neuronetz_gateway.limits.effective import Quota
from neuronetz_gateway.limits.memory_store import MemoryStore
from neuronetz_gateway.limits.redis_store import RedisStore
from neuronetz_gateway.limits.store import Admission, LimitStore

PERIODS = {"day": "2026-11-23", "month": "2026-11", "total": "all"}


async def zero(scope: str, scope_id: int, period: str, start: str) -> int:
    return 0


async def measure(store: LimitStore, calls: int) -> list[float]:
    tenant = Quota("tenant", random.randrange(10**9), 10**9, 10**12, 10**6, None, None, None)
    key = Quota("key", random.randrange(10**9), 10**9, 10**12, 10**6, 10**12, None, None)
    admission = Admission(key, tenant, 20, 100, True, PERIODS)
    took = []
    deadline = time.monotonic() + 30
    for _ in range(calls):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        decision = await store.admit(admission)
        assert decision.ticket is not None
        await store.settle(decision.ticket, 50)
        took.append((time.perf_counter() - started) * 1e6)
    return took


async def main(calls: int) -> None:
    pool = BlockingConnectionPool(host="127.0.0.1", port=6379, max_connections=4, timeout=2)
    redis = Redis(connection_pool=pool)
    try:
        for name, store in (("in-process", MemoryStore(zero)), ("redis", RedisStore(redis, zero))):
            took = sorted(await measure(store, calls))
            p99 = took[int(len(took) * 0.99) - 1]
            print(
                f"{name:<11} admit+settle: mean {statistics.mean(took):7.1f} µs, "
                f"p99 {p99:7.1f} µs ({len(took)} pairs)"
            )
    finally:
        await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    asyncio.run(main(parser.parse_args().calls))
