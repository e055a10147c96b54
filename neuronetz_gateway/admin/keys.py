"""Key administration: issue (the only time a token is shown), list, revoke, rotate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.admin.tenants import check_limits, check_models, require_tenant
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.auth.keyformat import generate_key, is_public_prefix
from neuronetz_gateway.db import keys, state
from neuronetz_gateway.db.records import LIMIT_FIELDS, KeyRecord, Limits, TenantRecord


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly created key: the record and the token, which is never available again."""

    record: KeyRecord
    token: str


async def create_key(
    hasher: KeyHasher,
    tenant_name: str,
    name: str,
    expires_at: datetime | None = None,
    limits: Limits | None = None,
    models: tuple[str, ...] | None = None,
    log_prompts: bool | None = None,
    prompt_retention_days: int | None = None,
) -> IssuedKey:
    """Issue a key for a tenant; its overrides may only narrow the tenant's values."""
    tenant = await require_tenant(tenant_name)
    name = name.strip()
    if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
        raise AdminError("key name must be 1-100 printable characters")
    limits = limits or Limits()
    check_limits(limits)
    _check_narrows(tenant, limits)
    if models is not None:
        models = check_models(models)
        outside = [m for m in models if not tenant.allow_all_models and m not in tenant.models]
        if outside:
            raise AdminError(f"models not allowed for tenant {tenant.name!r}: {', '.join(outside)}")
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise AdminError("expiry must be in the future")
    _check_retention(prompt_retention_days)
    issued = await _issue(hasher, tenant, name, limits, models, expires_at, rotated_from=None)
    if log_prompts is None and prompt_retention_days is None:
        return issued
    changes = {"log_prompts": log_prompts, "prompt_retention_days": prompt_retention_days}
    await keys.update_key(issued.record.id, changes)
    return IssuedKey(record=await require_key(issued.record.prefix), token=issued.token)


def _check_retention(days: int | None) -> None:
    if days is not None and days < 1:
        raise AdminError(f"prompt-retention-days must be at least 1, got {days}")


async def _issue(
    hasher: KeyHasher,
    tenant: TenantRecord,
    name: str,
    limits: Limits,
    models: tuple[str, ...] | None,
    expires_at: datetime | None,
    rotated_from: str | None,
) -> IssuedKey:
    generated = generate_key()
    secret_hash = await asyncio.to_thread(hasher.hash, generated.token)
    record = await keys.insert_key(
        tenant_id=tenant.id,
        name=name,
        prefix=generated.prefix,
        secret_hash=secret_hash,
        limits=limits,
        models=models,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return IssuedKey(record=record, token=generated.token)


def _check_narrows(tenant: TenantRecord, limits: Limits) -> None:
    for field in LIMIT_FIELDS:
        wanted, ceiling = getattr(limits, field), getattr(tenant.limits, field)
        if wanted is not None and ceiling is not None and wanted > ceiling:
            raise AdminError(
                f"{field.replace('_', '-')} {wanted} exceeds tenant {tenant.name!r}'s {ceiling}: "
                "a key can only narrow its tenant"
            )


async def require_key(prefix: str) -> KeyRecord:
    """The key with this public prefix, or AdminError."""
    if not is_public_prefix(prefix):
        raise AdminError(
            f"invalid key prefix {prefix[:20]!r}: expected nz_ and 8 letters or digits"
        )
    record = await keys.get_key(prefix)
    if record is None:
        raise AdminError(f"unknown key {prefix}")
    return record


async def list_keys(tenant_name: str | None = None) -> list[KeyRecord]:
    """Every key, or one tenant's."""
    if tenant_name is None:
        return await keys.list_keys()
    tenant = await require_tenant(tenant_name)
    return await keys.list_keys(tenant.id)


async def revoke_key(prefix: str) -> KeyRecord:
    """Revoke a key now; every instance refuses it within 2 s."""
    record = await require_key(prefix)
    if record.revoked_at is None:
        await keys.update_key(record.id, {"revoked_at": datetime.now(UTC)})
        await state.bump(state.AUTH_EPOCH)
    return await require_key(prefix)


async def rotate_key(
    hasher: KeyHasher, prefix: str, grace: timedelta
) -> tuple[IssuedKey, KeyRecord]:
    """Issue a successor with the same settings; the old key expires after `grace`."""
    old = await require_key(prefix)
    if old.state(datetime.now(UTC)) != "active":
        raise AdminError(
            f"key {prefix} is {old.state(datetime.now(UTC))}; only an active key can be rotated"
        )
    tenant = await require_tenant(old.tenant_name)
    issued = await _issue(
        hasher, tenant, old.name, old.limits, old.models, old.expires_at, rotated_from=old.prefix
    )
    old_expiry = datetime.now(UTC) + grace
    if old.expires_at is None or old.expires_at > old_expiry:
        await keys.update_key(old.id, {"expires_at": old_expiry})
        await state.bump(state.AUTH_EPOCH)
    return issued, await require_key(prefix)


async def update_key(
    prefix: str,
    limits: dict[str, int],
    unset: tuple[str, ...] = (),
    models: tuple[str, ...] | None = None,
    all_tenant_models: bool = False,
    expires_at: datetime | None = None,
    log_prompts: bool | None = None,
    prompt_retention_days: int | None = None,
) -> KeyRecord:
    """Change a key's overrides (still only narrowing its tenant); live within 2 s."""
    record = await require_key(prefix)
    tenant = await require_tenant(record.tenant_name)
    unknown = set(unset) - set(LIMIT_FIELDS)
    if unknown:
        raise AdminError(
            f"cannot unset {', '.join(sorted(unknown))}: choose from {', '.join(LIMIT_FIELDS)}"
        )
    wanted = Limits(**limits)
    check_limits(wanted)
    _check_narrows(tenant, wanted)
    changes: dict[str, object] = {**limits, **dict.fromkeys(unset)}
    if models is not None:
        models = check_models(models)
        outside = [m for m in models if not tenant.allow_all_models and m not in tenant.models]
        if outside:
            raise AdminError(f"models not allowed for tenant {tenant.name!r}: {', '.join(outside)}")
        changes["models"] = models
    if all_tenant_models:
        changes["models"] = None
    if expires_at is not None:
        changes["expires_at"] = expires_at
    _check_retention(prompt_retention_days)
    if log_prompts is not None:
        changes["log_prompts"] = log_prompts
    if prompt_retention_days is not None:
        changes["prompt_retention_days"] = prompt_retention_days
    if changes:
        await keys.update_key(record.id, changes)
        await state.bump(state.AUTH_EPOCH)
    return await require_key(prefix)
