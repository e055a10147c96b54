"""`GET /v1/usage`: the calling key's effective limits, budgets, what is used and what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from blacksheep import Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.edge.responses import json_response
from neuronetz_gateway.limits.effective import Quota, quotas
from neuronetz_gateway.limits.ledger import period_starts, spent_tokens
from neuronetz_gateway.limits.store import period_reset_s

_NAMES = {"day": "daily", "month": "monthly", "total": "total"}


async def usage(call: Call) -> Response:
    """Limits and budgets of the key and of its tenant; budgets count settled tokens."""
    caller = call.ctx.caller
    assert caller is not None
    key_quota, tenant_quota = quotas(caller.key, caller.tenant, call.runtime.settings)
    now = datetime.now(UTC)
    body = {
        "key": {
            "prefix": caller.key.prefix,
            "name": caller.key.name,
            **await _describe(call, key_quota, now),
        },
        "tenant": {"name": caller.tenant.name, **await _describe(call, tenant_quota, now)},
    }
    return json_response(body)


async def _describe(call: Call, quota: Quota, now: datetime) -> dict[str, Any]:
    budgets: dict[str, Any] = {}
    for period, start in period_starts(now).items():
        limit = quota.budgets()[period]
        used = await spent_tokens(call.runtime.ledger, quota.scope, quota.scope_id, period, start)
        resets = now + timedelta(seconds=period_reset_s(period, now)) if period != "total" else None
        budgets[_NAMES[period]] = {
            "limit": limit,
            "used": used,
            "remaining": None if limit is None else max(0, limit - used),
            "resets_at": resets.isoformat(timespec="seconds") if resets else None,
        }
    limits = {"rpm": quota.rpm, "tpm": quota.tpm, "concurrent": quota.concurrent}
    return {"limits": limits, "budgets": budgets}
