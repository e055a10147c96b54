"""Named queries on tenants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from neuronetz_gateway.db.records import LIMIT_FIELDS, Limits, TenantRecord
from neuronetz_gateway.db.tables import Tenant


def _record(row: dict[str, Any]) -> TenantRecord:
    return TenantRecord(
        id=row["id"],
        name=row["name"],
        limits=Limits(**{name: row[name] for name in LIMIT_FIELDS}),
        allow_all_models=bool(row["allow_all_models"]),
        models=tuple(json.loads(row["models"] or "[]")),
        log_prompts=bool(row["log_prompts"]),
        prompt_retention_days=row["prompt_retention_days"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_tenant(
    name: str,
    limits: Limits,
    allow_all_models: bool,
    models: tuple[str, ...],
    log_prompts: bool,
    prompt_retention_days: int | None,
) -> TenantRecord:
    """Insert a tenant and return it."""
    now = datetime.now(UTC)
    row = Tenant(
        name=name,
        allow_all_models=allow_all_models,
        models=json.dumps(list(models)),
        log_prompts=log_prompts,
        prompt_retention_days=prompt_retention_days,
        disabled=False,
        created_at=now,
        updated_at=now,
        **{field: getattr(limits, field) for field in LIMIT_FIELDS},
    )
    await Tenant.insert(row).run()
    created = await get_tenant(name)
    assert created is not None
    return created


async def get_tenant(name: str) -> TenantRecord | None:
    """The tenant called `name`, if any."""
    row = await Tenant.select().where(Tenant.name == name).first().run()
    return _record(row) if row else None


async def get_tenant_by_id(tenant_id: int) -> TenantRecord | None:
    """The tenant with this id, if any."""
    row = await Tenant.select().where(Tenant.id == tenant_id).first().run()
    return _record(row) if row else None


async def list_tenants() -> list[TenantRecord]:
    """Every tenant, by name."""
    rows = await Tenant.select().order_by(Tenant.name).run()
    return [_record(row) for row in rows]


async def update_tenant(tenant_id: int, changes: dict[str, Any]) -> None:
    """Write the given column values (already validated) and bump `updated_at`."""
    values: dict[Any, Any] = {"updated_at": datetime.now(UTC)}
    for name, value in changes.items():
        values[name] = json.dumps(list(value)) if name == "models" else value
    await Tenant.update(values).where(Tenant.id == tenant_id).run()
