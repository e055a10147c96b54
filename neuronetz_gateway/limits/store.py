"""The limit store: one interface, two implementations (in-process and Redis), one contract test.

A model call is *admitted* atomically against every limit of its key and its tenant at once:
requests per minute, tokens per minute (charged with the reservation), concurrency (a lease that
expires, so a crashed holder's slot comes back) and the token budgets (day, month, total; the
reservation's completion part is clamped to what the tightest budget has left). Nothing is charged
unless everything passes. *Settlement* replaces the reservation by the actual count and releases
the lease. Decisions are values; the HTTP layer turns refusals into 429s (SPEC §6).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from neuronetz_gateway.limits.effective import Quota

# A lease outlives a crash by at most this long; live streams renew it every third of it.
LEASE_TTL_S = 60.0

Baseline = Callable[[str, int, str, str], Awaitable[int]]


class LimitsUnavailable(Exception):
    """The store cannot be reached; requests fail closed (503)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What one request asks for."""

    key: Quota
    tenant: Quota
    prompt_tokens: int  # estimate; 0 for calls that produce no tokens
    max_completion: int  # wanted completion cap; 0 for calls that produce no tokens
    lease: bool  # holds a concurrency slot (model calls)
    periods: dict[str, str]  # budget period -> bucket start, e.g. {"day": "2026-11-23", ...}


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the rate-limit headers report (the tighter of key and tenant)."""

    limit_requests: int
    remaining_requests: int
    reset_requests_s: float
    limit_tokens: int
    remaining_tokens: int
    reset_tokens_s: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted request's claim, returned at settlement."""

    admission: Admission
    reserved: int  # prompt estimate + granted completion
    lease_id: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    """Admitted (with a ticket and the completion cap granted) or refused (with a reason)."""

    allowed: bool
    headroom: Headroom
    ticket: Ticket | None = None
    granted_completion: int = 0
    code: str | None = (
        None  # rate_limited | tokens_rate_limited | concurrency_limited | budget_exceeded
    )
    retry_after_s: float = 0.0
    scope: str | None = None  # "key" | "tenant": whose limit refused


class LimitStore(Protocol):
    """Atomic admission, settlement and the auth-failure throttle."""

    async def admit(self, admission: Admission) -> Decision: ...
    async def settle(self, ticket: Ticket, used_tokens: int) -> None: ...
    async def renew(self, ticket: Ticket) -> None: ...
    async def auth_retry_after(self, ip: str, per_minute: int) -> float: ...
    async def auth_failed(self, ip: str, per_minute: int) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def period_reset_s(period: str, now: datetime) -> float:
    """Seconds until a budget period starts over (UTC); total never does."""
    if period == "day":
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return (tomorrow - now).total_seconds()
    if period == "month":
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
        return (following - now).total_seconds()
    return 0.0


@dataclass(slots=True)
class BudgetPlan:
    """The budget part of an admission, worked out before touching any counter."""

    granted_completion: int
    refused_scope: str | None = None
    refused_period: str | None = None
    charges: list[tuple[Quota, str]] = field(default_factory=list)


def plan_budgets(admission: Admission, spent: Callable[[Quota, str], int]) -> BudgetPlan:
    """Clamp the completion to what every budget has left; refuse when one cannot fit the prompt."""
    granted = admission.max_completion
    plan = BudgetPlan(granted_completion=granted)
    if not admission.prompt_tokens and not admission.max_completion:
        return plan  # listing models and the like spend no tokens
    # A generating call needs room for at least one completion token; an embedding for its prompt.
    room_needed = 1 if admission.max_completion else 0
    for quota in (admission.key, admission.tenant):
        for period, budget in quota.budgets().items():
            if budget is None:
                continue
            left = budget - spent(quota, period) - admission.prompt_tokens
            if left < room_needed:
                plan.refused_scope, plan.refused_period = quota.scope, period
                return plan
            if admission.max_completion:
                granted = min(granted, left)
            plan.charges.append((quota, period))
    plan.granted_completion = granted
    return plan


def budget_retry_after(period: str | None) -> float:
    return period_reset_s(period or "total", datetime.now(UTC))
