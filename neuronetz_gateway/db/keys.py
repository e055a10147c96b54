"""Named queries on API keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from neuronetz_gateway.db.records import LIMIT_FIELDS, KeyRecord, Limits
from neuronetz_gateway.db.tables import ApiKey

_COLUMNS = (*ApiKey.all_columns(), ApiKey.tenant.name.as_alias("tenant_name"))


def _record(row: dict[str, Any]) -> KeyRecord:
    models = row["models"]
    return KeyRecord(
        id=row["id"],
        tenant_id=row["tenant"],
        tenant_name=row["tenant_name"],
        name=row["name"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        limits=Limits(**{name: row[name] for name in LIMIT_FIELDS}),
        models=tuple(json.loads(models)) if models is not None else None,
        log_prompts=None if row["log_prompts"] is None else bool(row["log_prompts"]),
        prompt_retention_days=row["prompt_retention_days"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        rotated_from=row["rotated_from"],
        created_at=row["created_at"],
    )


async def insert_key(
    tenant_id: int,
    name: str,
    prefix: str,
    secret_hash: str,
    limits: Limits,
    models: tuple[str, ...] | None,
    expires_at: datetime | None,
    rotated_from: str | None = None,
) -> KeyRecord:
    """Insert a key and return it."""
    row = ApiKey(
        tenant=tenant_id,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        models=json.dumps(list(models)) if models is not None else None,
        expires_at=expires_at,
        rotated_from=rotated_from,
        created_at=datetime.now(UTC),
        **{field: getattr(limits, field) for field in LIMIT_FIELDS},
    )
    await ApiKey.insert(row).run()
    created = await get_key(prefix)
    assert created is not None
    return created


async def get_key(prefix: str) -> KeyRecord | None:
    """The key with this public prefix, if any."""
    row = await ApiKey.select(*_COLUMNS).where(ApiKey.prefix == prefix).first().run()
    return _record(row) if row else None


async def list_keys(tenant_id: int | None = None) -> list[KeyRecord]:
    """Every key, or a tenant's keys, oldest first."""
    query = ApiKey.select(*_COLUMNS).order_by(ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant == tenant_id)
    return [_record(row) for row in await query.run()]


async def update_key(key_id: int, changes: dict[str, Any]) -> None:
    """Write the given column values (already validated)."""
    values: dict[Any, Any] = {}
    for name, value in changes.items():
        values[name] = json.dumps(list(value)) if name == "models" and value is not None else value
    await ApiKey.update(values).where(ApiKey.id == key_id).run()
