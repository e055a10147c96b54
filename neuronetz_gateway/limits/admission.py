"""Steps 7-8 for one request: build the admission, ask the store, turn refusals into 429s."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from neuronetz_gateway.config import Settings
from neuronetz_gateway.db.records import KeyRecord, TenantRecord
from neuronetz_gateway.errors import GatewayError
from neuronetz_gateway.limits.effective import quotas
from neuronetz_gateway.limits.headers import rate_headers
from neuronetz_gateway.limits.ledger import period_starts
from neuronetz_gateway.limits.store import Admission, Decision, LimitStore, LimitsUnavailable

_MESSAGES = {
    "rate_limited": "rate limit reached: too many requests per minute",
    "tokens_rate_limited": "rate limit reached: too many tokens per minute",
    "concurrency_limited": "too many requests in flight; wait for one to finish",
    "budget_exceeded": "token budget exhausted",
}


def limits_unavailable() -> GatewayError:
    return GatewayError(
        503, "limits_unavailable", "limits cannot be checked right now; retry shortly"
    )


async def admit(
    store: LimitStore,
    settings: Settings,
    key: KeyRecord,
    tenant: TenantRecord,
    prompt_tokens: int = 0,
    max_completion: int = 0,
    lease: bool = False,
) -> Decision:
    """Admit the request or raise a 429 (503 when the store cannot answer: fail closed)."""
    key_quota, tenant_quota = quotas(key, tenant, settings)
    admission = Admission(
        key=key_quota,
        tenant=tenant_quota,
        prompt_tokens=prompt_tokens,
        max_completion=max_completion,
        lease=lease,
        periods=period_starts(datetime.now(UTC)),
    )
    try:
        decision = await store.admit(admission)
    except LimitsUnavailable:
        raise limits_unavailable() from None
    if decision.allowed:
        return decision
    code = decision.code or "rate_limited"
    scope = f" for this {decision.scope}" if decision.scope else ""
    retry = max(1, math.ceil(decision.retry_after_s)) if decision.retry_after_s else None
    raise GatewayError(
        429,
        code,
        _MESSAGES.get(code, code) + scope,
        retry_after=retry,
        headers=rate_headers(decision.headroom),
    )


async def auth_gate(store: LimitStore, ip: str, per_minute: int) -> None:
    """Refuse an IP that failed authentication too often, before any database or Argon2 work."""
    try:
        retry = await store.auth_retry_after(ip, per_minute)
    except LimitsUnavailable:
        raise limits_unavailable() from None
    if retry > 0:
        raise GatewayError(
            429,
            "auth_throttled",
            "too many failed authentications from this address",
            retry_after=max(1, math.ceil(retry)),
        )
