"""What steps 7-8 (limits) and 13 (audit) cost per request, measured one by one.

    .venv/bin/python bench/steps.py [--calls N]

1. N sequential admit+settle pairs against the in-process and the Redis limit store
   (127.0.0.1:6379), with a budget on the key so every limit kind is exercised: mean and p99.
2. N audit records through the request path's side (row built, buffered, metrics counted, access
   line formatted): mean per request; this is all the audit costs a request.
3. The background writer's batch inserts into SQLite and into a scratch Postgres database
   (created next to `test` on 127.0.0.1:5432 and dropped again): rows per second.
Bounded by count and by a 30 s time limit per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime

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


async def audit_path(calls: int) -> float:
    """Mean microseconds per finished request on the request path (no database write)."""
    import logging

    from neuronetz_gateway.audit.buffer import AuditBuffer
    from neuronetz_gateway.audit.trail import Trail
    from neuronetz_gateway.config import load_settings
    from neuronetz_gateway.edge.context import RequestContext
    from neuronetz_gateway.metrics import Metrics

    logging.getLogger("neuronetz_gateway.access").setLevel(logging.INFO)
    logging.getLogger("neuronetz_gateway.access").addHandler(logging.NullHandler())
    logging.getLogger("neuronetz_gateway.access").propagate = False
    trail = Trail(load_settings({}), AuditBuffer(calls + 1), Metrics())
    started = time.perf_counter()
    for n in range(calls):
        ctx = RequestContext(
            f"bench-{n}", "127.0.0.1", "POST", "/api/chat", "ollama", route="/api/chat"
        )
        ctx.status, ctx.prompt_tokens, ctx.completion_tokens = 200, 20, 50
        trail.finish(ctx)
    return (time.perf_counter() - started) / calls * 1e6


async def writer_rate(database_url: str | None, rows: int) -> float:
    """Rows per second the batch writer inserts into a fresh database."""
    import tempfile

    from neuronetz_gateway.audit.buffer import AuditBuffer
    from neuronetz_gateway.config import load_settings
    from neuronetz_gateway.db.audit import AuditRow
    from neuronetz_gateway.db.engine import open_database
    from neuronetz_gateway.db.migrate import apply_migrations

    env = {"GATEWAY_STATE_DIR": tempfile.mkdtemp(prefix="nz-bench-")}
    if database_url:
        env["DATABASE_URL"] = database_url
    database = await open_database(load_settings(env))
    try:
        await apply_migrations(database)
        buffer = AuditBuffer(rows + 1)
        now = datetime.now(UTC)
        for n in range(rows):
            buffer.record(
                AuditRow(
                    now,
                    f"bench-{n}",
                    1,
                    "nz_bench000",
                    "127.0.0.1",
                    "POST",
                    "/api/chat",
                    "llama3.2:latest",
                    "default",
                    200,
                    None,
                    20,
                    50,
                    1.2,
                    0.4,
                    True,
                    False,
                    now,
                )
            )
        started = time.perf_counter()
        assert await buffer.drain()
        return rows / (time.perf_counter() - started)
    finally:
        await database.close()


async def scratch_postgres() -> str:
    import uuid

    import asyncpg

    name = f"nz_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return name


async def drop_postgres(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await connection.close()


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
    print(f"audit on the request path: mean {await audit_path(calls):7.1f} µs per request")
    print(f"audit writer, SQLite:   {await writer_rate(None, calls):9.0f} rows/s")
    name = await scratch_postgres()
    try:
        rate = await writer_rate(f"postgresql://postgres@127.0.0.1:5432/{name}", calls)
        print(f"audit writer, Postgres: {rate:9.0f} rows/s")
    finally:
        await drop_postgres(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    asyncio.run(main(parser.parse_args().calls))
