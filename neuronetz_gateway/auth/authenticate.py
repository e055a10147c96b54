"""Step 5: Bearer key -> the caller's key and tenant, or one identical 401 (SPEC §5).

Order of checks, cheapest first: header shape, key format and checksum (pure), then the fast path
(rows and verification both cached in this process: no I/O at all); otherwise the `gate` (the
per-IP failure throttle) before any database read or Argon2id run, cached or loaded rows, the
token itself (HMAC against the shared verified cache, else Argon2id in a thread, one run shared by
concurrent first requests), then state (revoked, expired, tenant disabled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from neuronetz_gateway.auth.cache import CachedKey, KeyCache, token_digest
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.auth.keyformat import parse_key
from neuronetz_gateway.db import keys, tenants
from neuronetz_gateway.db.records import KeyRecord, TenantRecord
from neuronetz_gateway.errors import GatewayError


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the key and the tenant it belongs to."""

    key: KeyRecord
    tenant: TenantRecord


Gate = Callable[[], Awaitable[None]]


def unauthorized() -> GatewayError:
    """The one answer for every bad-key case, so none can be told apart."""
    return GatewayError(401, "invalid_api_key", "invalid or missing API key")


class Authenticator:
    """Turns an Authorization header into a Caller."""

    def __init__(self, hasher: KeyHasher, cache: KeyCache) -> None:
        self.hasher = hasher
        self.cache = cache
        self._inflight: dict[str, asyncio.Future[bool]] = {}

    async def authenticate(self, authorization: bytes | None, gate: Gate | None = None) -> Caller:
        token = _bearer(authorization)
        parsed = parse_key(token) if token is not None else None
        cached = self.cache.record(parsed.prefix) if parsed is not None else None
        if parsed is not None and cached is not None:
            digest = token_digest(cached.key.secret_hash, parsed.token)
            if self.cache.is_verified_here(parsed.prefix, digest):
                if not _usable(cached, datetime.now(UTC)):
                    raise unauthorized()
                return Caller(key=cached.key, tenant=cached.tenant)
        if gate is not None:
            await gate()
        if parsed is None:
            raise unauthorized()
        cached = await self._rows(parsed.prefix)
        if cached is None:
            raise unauthorized()
        digest = token_digest(cached.key.secret_hash, parsed.token)
        if not await self.cache.is_verified(parsed.prefix, digest):
            if not await self._verify_once(digest, cached.key.secret_hash, parsed.token):
                raise unauthorized()
            await self.cache.mark_verified(parsed.prefix, digest)
        if not _usable(cached, datetime.now(UTC)):
            raise unauthorized()
        return Caller(key=cached.key, tenant=cached.tenant)

    async def _rows(self, prefix: str) -> CachedKey | None:
        cached = self.cache.record(prefix)
        if cached is not None:
            return cached
        try:
            key = await keys.get_key(prefix)
            tenant = await tenants.get_tenant_by_id(key.tenant_id) if key else None
        except Exception as exc:
            stale = self.cache.stale_record(prefix)
            if stale is not None:
                return stale  # SPEC §14: cached keys keep working while the database is down
            raise GatewayError(
                503, "database_unavailable", "cannot verify the API key right now; retry shortly"
            ) from exc
        if key is None or tenant is None:
            return None
        return self.cache.store_record(key, tenant)

    async def _verify_once(self, digest: str, secret_hash: str, token: str) -> bool:
        """Argon2 in a thread; concurrent first requests with the same token share one run."""
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            ok = await self.hasher.verify_async(secret_hash, token)
            future.set_result(ok)
            return ok
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[digest]


def _bearer(authorization: bytes | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    try:
        return value.strip().decode("ascii")
    except UnicodeDecodeError:
        return None


def _usable(cached: CachedKey, now: datetime) -> bool:
    return cached.key.state(now) == "active" and not cached.tenant.disabled
