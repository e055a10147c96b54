"""Effective limits: key override, else tenant value, else the DEFAULT_* setting (SPEC §5).

Rates (rpm, tpm, concurrent) always have a value; budgets may be None (unlimited). The key's and
the tenant's limits both apply to every request: the key's with the key's effective values, the
tenant's (summed over its keys) with the tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuronetz_gateway.config import Settings
from neuronetz_gateway.db.records import KeyRecord, Limits, TenantRecord


@dataclass(frozen=True, slots=True)
class Quota:
    """The limits one scope (a key or a tenant) is held to."""

    scope: str  # "key" | "tenant"
    scope_id: int
    rpm: int
    tpm: int
    concurrent: int
    daily_budget: int | None
    monthly_budget: int | None
    total_budget: int | None

    def budgets(self) -> dict[str, int | None]:
        return {"day": self.daily_budget, "month": self.monthly_budget, "total": self.total_budget}


def _pick(name: str, *layers: Limits) -> int | None:
    for layer in layers:
        value: int | None = getattr(layer, name)
        if value is not None:
            return value
    return None


def quotas(key: KeyRecord, tenant: TenantRecord, settings: Settings) -> tuple[Quota, Quota]:
    """(key quota, tenant quota) for one request."""
    defaults = Limits(
        rpm=settings.default_rpm, tpm=settings.default_tpm, concurrent=settings.default_concurrent
    )

    def quota(scope: str, scope_id: int, *layers: Limits) -> Quota:
        return Quota(
            scope=scope,
            scope_id=scope_id,
            rpm=_pick("rpm", *layers, defaults) or settings.default_rpm,
            tpm=_pick("tpm", *layers, defaults) or settings.default_tpm,
            concurrent=_pick("concurrent", *layers, defaults) or settings.default_concurrent,
            daily_budget=_pick("daily_budget", *layers),
            monthly_budget=_pick("monthly_budget", *layers),
            total_budget=_pick("total_budget", *layers),
        )

    return quota("key", key.id, key.limits, tenant.limits), quota(
        "tenant", tenant.id, tenant.limits
    )
