"""The collaborators a serving process opens at start and closes at stop, in that order.

database -> Redis (when configured) -> upstream HTTP client -> model discovery (first round before
serving) -> key cache + authenticator -> usage ledger; then the background tasks: discovery
refresh, auth-epoch poll, ledger flush. Closing runs in reverse and flushes the ledger last.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import BlockingConnectionPool, Redis

from neuronetz_gateway.audit.buffer import AuditBuffer
from neuronetz_gateway.audit.trail import Trail
from neuronetz_gateway.auth.authenticate import Authenticator
from neuronetz_gateway.auth.cache import KeyCache
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.backends.discovery import Discovery
from neuronetz_gateway.config import Settings
from neuronetz_gateway.db import state
from neuronetz_gateway.db.audit import purge_expired
from neuronetz_gateway.db.engine import Database, open_database
from neuronetz_gateway.lifecycle import pause
from neuronetz_gateway.limits.ledger import UsageLedger, spent_tokens
from neuronetz_gateway.limits.memory_store import MemoryStore
from neuronetz_gateway.limits.redis_store import RedisStore
from neuronetz_gateway.limits.store import LimitStore
from neuronetz_gateway.metrics import Metrics
from neuronetz_gateway.policy.options import Caps
from neuronetz_gateway.proxy.upstream import make_client

log = logging.getLogger("neuronetz_gateway.runtime")

# Revocation must land within 2 s (SPEC §5); polling twice a second leaves room for the request.
EPOCH_POLL_S = 0.5
PURGE_EVERY_S = 3600.0
CLOSE_STEP_S = 5.0


def open_redis(settings: Settings) -> Redis | None:
    """A Redis client with a blocking pool and timeouts (a frozen Redis must not hang requests)."""
    if settings.redis_url is None:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=64,
        timeout=2,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    return Redis(connection_pool=pool)


@dataclass(slots=True)
class Runtime:
    """Everything a request handler may need, opened once per process."""

    settings: Settings
    database: Database
    redis: Redis | None
    http: httpx.AsyncClient
    discovery: Discovery
    cache: KeyCache
    authenticator: Authenticator
    ledger: UsageLedger
    limits: LimitStore
    caps: Caps
    audit: AuditBuffer
    metrics: Metrics
    trail: Trail
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Open everything and start the background tasks (DatabaseUnavailable if it is down)."""
        database = await open_database(settings)
        await database.ping()
        redis = open_redis(settings)
        http = make_client(settings)
        discovery = Discovery(
            settings.backends,
            http,
            settings.model_discovery_refresh_s,
            redis,
            settings.model_discovery_cache_ttl_s,
        )
        await discovery.refresh()
        cache = KeyCache(redis, settings.redis_key_cache_ttl_s)
        cache.advance_epoch(await state.read(state.AUTH_EPOCH))
        ledger = UsageLedger()
        baseline = functools.partial(spent_tokens, ledger)
        limits: LimitStore = (
            RedisStore(redis, baseline) if redis is not None else MemoryStore(baseline)
        )
        audit = AuditBuffer(settings.audit_buffer_size)
        metrics = Metrics()
        runtime = cls(
            settings=settings,
            database=database,
            redis=redis,
            http=http,
            discovery=discovery,
            cache=cache,
            authenticator=Authenticator(KeyHasher.from_settings(settings), cache),
            ledger=ledger,
            limits=limits,
            caps=Caps(
                max_completion_tokens=settings.max_num_predict,
                max_num_ctx=settings.max_num_ctx,
                max_keep_alive_s=settings.max_keep_alive_s,
                max_image_bytes=settings.max_image_bytes,
            ),
            audit=audit,
            metrics=metrics,
            trail=Trail(settings, audit, metrics),
        )
        stop = runtime.stop
        runtime._start(
            discovery.run(stop),
            runtime._poll_epoch(),
            runtime.ledger.run(stop),
            audit.run(stop),
            runtime._purge(),
        )
        return runtime

    def _start(self, *jobs: Coroutine[Any, Any, None]) -> None:
        self.tasks.extend(asyncio.create_task(job) for job in jobs)

    async def _poll_epoch(self) -> None:
        while not await pause(self.stop, EPOCH_POLL_S):
            try:
                self.cache.advance_epoch(await state.read(state.AUTH_EPOCH))
            except Exception as exc:  # database down: cached keys keep working (SPEC §14)
                log.debug("auth epoch poll failed: %s", type(exc).__name__)

    async def _purge(self) -> None:
        while not self.stop.is_set():
            try:
                audit, prompts = await purge_expired(datetime.now(UTC))
                if audit or prompts:
                    log.info("purged %d expired audit rows and %d prompt logs", audit, prompts)
            except Exception as exc:
                log.warning("purge failed, retrying later: %s", type(exc).__name__)
            await pause(self.stop, PURGE_EVERY_S)

    async def close(self) -> None:
        """Stop background work, flush usage and audit, release connections, in reverse order."""
        self.stop.set()  # loops end between rounds, never in the middle of a query
        if self.tasks:
            _, stuck = await asyncio.wait(self.tasks, timeout=CLOSE_STEP_S)
            for task in stuck:
                task.cancel()
            if stuck:
                log.warning("%d background tasks did not stop in time", len(stuck))
        # The writes that matter get a bounded wait each: a hung database must not keep the
        # process from exiting (systemd and Docker would kill it anyway, later and harder).
        try:
            flushed = await asyncio.wait_for(self.ledger.flush(), CLOSE_STEP_S * 3)
        except TimeoutError:
            flushed = False
        if not flushed:
            log.error("usage of %d buckets could not be written at shutdown", self.ledger.pending)
        try:
            drained = await asyncio.wait_for(self.audit.drain(), CLOSE_STEP_S * 3)
        except TimeoutError:
            drained = False
        if not drained:
            log.error("%d audit rows could not be written at shutdown", self.audit.depth)
        await self.http.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.close()
