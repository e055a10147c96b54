"""The verified-key cache: Argon2 runs once per key, revocation still lands within 2 s (SPEC §5).

Two maps, both keyed by the public prefix:
- records: the key and tenant rows, reloaded from the database whenever the auth epoch moved
  (every CLI change bumps it; a poller reads it twice a second) or the copy is a minute old;
- verified: HMAC-SHA256(key=the stored Argon2 hash, msg=token) of a token that passed Argon2.
  Keyed by the unique, salted hash, the digest proves possession without storing the token, and it
  is useless without the database row. With Redis the verified digests are shared, so a key
  verified on one instance skips Argon2 on the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuronetz_gateway.db.records import KeyRecord, TenantRecord

RECORD_MAX_AGE_S = 60.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class CachedKey:
    """A key and its tenant as loaded at `epoch`."""

    key: KeyRecord
    tenant: TenantRecord
    epoch: int
    loaded_at: float


def token_digest(secret_hash: str, token: str) -> str:
    """The cache's proof that `token` matched `secret_hash` once."""
    return hmac.new(secret_hash.encode(), token.encode(), hashlib.sha256).hexdigest()


class KeyCache:
    """In-process records and verified digests, with an optional shared Redis layer."""

    def __init__(self, redis: Redis | None, redis_ttl_s: int) -> None:
        self.epoch = 0
        self._records: dict[str, CachedKey] = {}
        self._verified: dict[str, str] = {}
        self._redis = redis
        self._redis_ttl_s = redis_ttl_s

    def record(self, prefix: str) -> CachedKey | None:
        """The cached rows when still current, else None (the caller reloads)."""
        cached = self._records.get(prefix)
        if cached is None or cached.epoch != self.epoch:
            return None
        if time.monotonic() - cached.loaded_at > RECORD_MAX_AGE_S:
            return None
        return cached

    def stale_record(self, prefix: str) -> CachedKey | None:
        """Whatever is cached, current or not: the fallback while the database is down."""
        return self._records.get(prefix)

    def store_record(self, key: KeyRecord, tenant: TenantRecord) -> CachedKey:
        if len(self._records) >= MAX_ENTRIES:
            self._records.clear()
        cached = CachedKey(key=key, tenant=tenant, epoch=self.epoch, loaded_at=time.monotonic())
        self._records[key.prefix] = cached
        return cached

    def is_verified_here(self, prefix: str, digest: str) -> bool:
        """True when this exact token passed Argon2 in this process (no I/O)."""
        known = self._verified.get(prefix)
        return known is not None and hmac.compare_digest(known, digest)

    async def is_verified(self, prefix: str, digest: str) -> bool:
        """True when this exact token passed Argon2 before (here or, with Redis, anywhere)."""
        if self.is_verified_here(prefix, digest):
            return True
        if self._redis is None:
            return False
        try:
            shared = await self._redis.get(_redis_key(prefix))
        except RedisError:
            return False  # the cache is an accelerator; Argon2 still decides
        if isinstance(shared, bytes) and hmac.compare_digest(shared.decode(), digest):
            self._verified[prefix] = digest
            return True
        return False

    async def mark_verified(self, prefix: str, digest: str) -> None:
        if len(self._verified) >= MAX_ENTRIES:
            self._verified.clear()
        self._verified[prefix] = digest
        if self._redis is not None:
            with contextlib.suppress(RedisError):  # an accelerator only
                await self._redis.set(_redis_key(prefix), digest, ex=self._redis_ttl_s)

    def advance_epoch(self, epoch: int) -> None:
        """A new auth epoch: every cached record is reloaded on its next use."""
        self.epoch = epoch


def _redis_key(prefix: str) -> str:
    # One hash tag for the whole auth cache keeps it on one slot under Redis Cluster.
    return f"nz:{{auth}}:verified:{prefix}"
