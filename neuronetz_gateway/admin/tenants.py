"""Tenant administration: create, update, list, disable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.db import state, tenants
from neuronetz_gateway.db.records import LIMIT_FIELDS, Limits, TenantRecord
from neuronetz_gateway.policy.models import BadModelName, normalize_model

_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class TenantChanges:
    """What `update-tenant` changes; None leaves a value alone."""

    limits: dict[str, int] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    allow_all_models: bool | None = None
    models: tuple[str, ...] | None = None
    log_prompts: bool | None = None
    prompt_retention_days: int | None = None
    disabled: bool | None = None


def check_limits(limits: Limits) -> None:
    """Refuse non-positive rates and negative budgets."""
    for name in ("rpm", "tpm", "concurrent"):
        value = getattr(limits, name)
        if value is not None and value < 1:
            raise AdminError(f"{name.replace('_', '-')} must be at least 1, got {value}")
    for name in ("daily_budget", "monthly_budget", "total_budget"):
        value = getattr(limits, name)
        if value is not None and value < 0:
            raise AdminError(f"{name.replace('_', '-')} must be 0 or more, got {value}")


def check_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """Validate and normalize a model list (`llama3` -> `llama3:latest`)."""
    try:
        return tuple(dict.fromkeys(normalize_model(m) for m in models))
    except BadModelName as exc:
        raise AdminError(str(exc)) from None


async def require_tenant(name: str) -> TenantRecord:
    """The tenant called `name`, or AdminError."""
    tenant = await tenants.get_tenant(name)
    if tenant is None:
        raise AdminError(f"unknown tenant {name!r}")
    return tenant


async def create_tenant(
    name: str,
    limits: Limits,
    models: tuple[str, ...] | None,
    log_prompts: bool = False,
    prompt_retention_days: int | None = None,
) -> TenantRecord:
    """Create a tenant; `models=None` allows every discovered model, a tuple is an allowlist."""
    name = name.strip()
    if not name or len(name) > _NAME_MAX or any(ord(c) < 32 for c in name):
        raise AdminError(f"tenant name must be 1-{_NAME_MAX} printable characters")
    check_limits(limits)
    _check_retention(prompt_retention_days)
    if await tenants.get_tenant(name) is not None:
        raise AdminError(f"tenant {name!r} already exists")
    return await tenants.insert_tenant(
        name=name,
        limits=limits,
        allow_all_models=models is None,
        models=check_models(models or ()),
        log_prompts=log_prompts,
        prompt_retention_days=prompt_retention_days,
    )


async def update_tenant(name: str, changes: TenantChanges) -> TenantRecord:
    """Apply `changes`; every instance sees them within 2 s (auth epoch)."""
    tenant = await require_tenant(name)
    unknown = set(changes.unset) - set(LIMIT_FIELDS)
    if unknown:
        raise AdminError(
            f"cannot unset {', '.join(sorted(unknown))}: choose from {', '.join(LIMIT_FIELDS)}"
        )
    check_limits(Limits(**changes.limits))
    _check_retention(changes.prompt_retention_days)
    values: dict[str, Any] = {**changes.limits, **dict.fromkeys(changes.unset)}
    if changes.models is not None:
        values["models"] = check_models(changes.models)
        values["allow_all_models"] = False
    if changes.allow_all_models is not None:
        values["allow_all_models"] = changes.allow_all_models
    for column in ("log_prompts", "prompt_retention_days", "disabled"):
        value = getattr(changes, column)
        if value is not None:
            values[column] = value
    if values:
        await tenants.update_tenant(tenant.id, values)
        await state.bump(state.AUTH_EPOCH)
    return await require_tenant(name)


async def disable_tenant(name: str) -> TenantRecord:
    """Disable a tenant: all its keys answer 401 on every instance within 2 s."""
    return await update_tenant(name, TenantChanges(disabled=True))


async def list_tenants() -> list[TenantRecord]:
    """Every tenant."""
    return await tenants.list_tenants()


def _check_retention(days: int | None) -> None:
    if days is not None and days < 1:
        raise AdminError(f"prompt-retention-days must be at least 1, got {days}")
