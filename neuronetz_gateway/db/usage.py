"""Named queries on usage counters: atomic batched increments, and reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from neuronetz_gateway.db.tables import UsageCounter

_UPSERT = (
    "INSERT INTO usage_counter "
    "(scope, scope_id, period, period_start, requests, prompt_tokens, completion_tokens, "
    "updated_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}) "
    "ON CONFLICT (scope, scope_id, period, period_start) DO UPDATE SET "
    "requests = usage_counter.requests + excluded.requests, "
    "prompt_tokens = usage_counter.prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = usage_counter.completion_tokens + excluded.completion_tokens, "
    "updated_at = excluded.updated_at"
)


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """Tokens and requests to add to one counter bucket."""

    scope: str  # "tenant" | "key"
    scope_id: int
    period: str  # "day" | "month" | "total"
    period_start: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


async def add_usage(deltas: list[UsageDelta]) -> None:
    """Add every delta in one transaction (col = col + n: concurrent writers never lose counts)."""
    if not deltas:
        return
    now = datetime.now(UTC)
    async with UsageCounter._meta.db.transaction():
        for d in deltas:
            await UsageCounter.raw(
                _UPSERT,
                d.scope,
                d.scope_id,
                d.period,
                d.period_start,
                d.requests,
                d.prompt_tokens,
                d.completion_tokens,
                now,
            ).run()


async def read_usage(
    scope: str, scope_id: int, period: str, period_start: str
) -> tuple[int, int, int]:
    """(requests, prompt_tokens, completion_tokens) of one bucket; zeros when it has none."""
    row = (
        await UsageCounter.select(
            UsageCounter.requests, UsageCounter.prompt_tokens, UsageCounter.completion_tokens
        )
        .where(
            (UsageCounter.scope == scope)
            & (UsageCounter.scope_id == scope_id)
            & (UsageCounter.period == period)
            & (UsageCounter.period_start == period_start)
        )
        .first()
        .run()
    )
    if row is None:
        return (0, 0, 0)
    return (int(row["requests"]), int(row["prompt_tokens"]), int(row["completion_tokens"]))


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One counter bucket as reports show it."""

    scope: str
    scope_id: int
    period: str
    period_start: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


async def list_usage(scope: str, scope_ids: list[int], period: str) -> list[UsageRow]:
    """Every bucket of these scopes in one period kind, newest first."""
    if not scope_ids:
        return []
    rows = (
        await UsageCounter.select()
        .where(
            (UsageCounter.scope == scope)
            & (UsageCounter.scope_id.is_in(scope_ids))
            & (UsageCounter.period == period)
        )
        .order_by(UsageCounter.period_start, ascending=False)
        .run()
    )
    return [
        UsageRow(
            r["scope"],
            int(r["scope_id"]),
            r["period"],
            r["period_start"],
            int(r["requests"]),
            int(r["prompt_tokens"]),
            int(r["completion_tokens"]),
        )
        for r in rows
    ]
