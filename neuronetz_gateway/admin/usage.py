"""Usage reports for operators: per tenant or per key, per UTC day, month or in total."""

from __future__ import annotations

from dataclasses import dataclass

from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.admin.keys import require_key
from neuronetz_gateway.admin.tenants import require_tenant
from neuronetz_gateway.db import keys, tenants
from neuronetz_gateway.db.usage import UsageRow, list_usage

PERIODS = ("day", "month", "total")


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One row of a usage report."""

    scope: str
    name: str  # tenant name or key prefix
    tenant: str
    period: str
    period_start: str
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


async def usage_report(
    tenant_name: str | None, key_prefix: str | None, period: str
) -> list[UsageLine]:
    """Usage of one key, of one tenant (and each of its keys), or of every tenant."""
    if period not in PERIODS:
        raise AdminError(f"invalid period {period!r}: choose day, month or total")
    if key_prefix is not None:
        key = await require_key(key_prefix)
        rows = await list_usage("key", [key.id], period)
        return [_line(r, key.prefix, key.tenant_name) for r in rows]
    chosen = [await require_tenant(tenant_name)] if tenant_name else await tenants.list_tenants()
    names = {t.id: t.name for t in chosen}
    lines = [
        _line(r, names[r.scope_id], names[r.scope_id])
        for r in await list_usage("tenant", list(names), period)
    ]
    if tenant_name is not None:
        tenant_keys = await keys.list_keys(chosen[0].id)
        prefixes = {k.id: k.prefix for k in tenant_keys}
        lines += [
            _line(r, prefixes[r.scope_id], chosen[0].name)
            for r in await list_usage("key", list(prefixes), period)
        ]
    return lines


def _line(row: UsageRow, name: str, tenant: str) -> UsageLine:
    return UsageLine(
        row.scope,
        name,
        tenant,
        row.period,
        row.period_start,
        row.requests,
        row.prompt_tokens,
        row.completion_tokens,
    )
