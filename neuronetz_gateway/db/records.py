"""Plain values read from the database; they cross module boundaries instead of Piccolo rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Limits:
    """Optional limits and budgets; None means 'inherit' (key) or 'default/unlimited' (tenant)."""

    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None
    daily_budget: int | None = None
    monthly_budget: int | None = None
    total_budget: int | None = None


LIMIT_FIELDS = ("rpm", "tpm", "concurrent", "daily_budget", "monthly_budget", "total_budget")


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant as stored."""

    id: int
    name: str
    limits: Limits
    allow_all_models: bool
    models: tuple[str, ...]
    log_prompts: bool
    prompt_retention_days: int | None
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as stored (the hash included; never the token)."""

    id: int
    tenant_id: int
    tenant_name: str
    name: str
    prefix: str
    secret_hash: str
    limits: Limits
    models: tuple[str, ...] | None
    log_prompts: bool | None
    prompt_retention_days: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: str | None
    created_at: datetime

    def state(self, now: datetime) -> str:
        """'revoked', 'expired' or 'active' at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"
