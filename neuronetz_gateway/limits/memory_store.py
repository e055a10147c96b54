"""The in-process limit store (embedded mode: one process, so its counters are the whole truth).

Admission runs without an await between reading and writing counters, which makes it atomic on
the event loop; budget buckets missing from memory are first loaded from the durable usage
counters (the source of truth after a restart).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from neuronetz_gateway.limits import gcra
from neuronetz_gateway.limits.effective import Quota
from neuronetz_gateway.limits.store import (
    LEASE_TTL_S,
    Admission,
    Baseline,
    Decision,
    Headroom,
    Ticket,
    budget_retry_after,
    plan_budgets,
)

MAX_THROTTLED_IPS = 100_000


class MemoryStore:
    """Limits and budgets in this process's memory."""

    def __init__(
        self,
        baseline: Baseline,
        lease_ttl_s: float = LEASE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._baseline = baseline
        self._lease_ttl_s = lease_ttl_s
        self._clock = clock
        self._tat: dict[tuple[str, str, int], float] = {}
        self._leases: dict[tuple[str, int], dict[str, float]] = {}
        self._spent: dict[tuple[str, int, str, str], int] = {}
        self._auth_tat: dict[str, float] = {}

    async def _load_budgets(self, admission: Admission) -> None:
        for quota in (admission.key, admission.tenant):
            for period, budget in quota.budgets().items():
                bucket = (quota.scope, quota.scope_id, period, admission.periods[period])
                if budget is not None and bucket not in self._spent:
                    value = await self._baseline(*bucket)
                    self._spent.setdefault(bucket, value)

    async def admit(self, admission: Admission) -> Decision:
        await self._load_budgets(admission)
        # From here to the end: no await, so nothing interleaves between check and charge.
        now = self._clock()
        key, tenant = admission.key, admission.tenant
        spent = lambda quota, period: self._spent[  # noqa: E731
            (quota.scope, quota.scope_id, period, admission.periods[period])
        ]
        plan = plan_budgets(admission, spent)
        requests = [
            gcra.check(self._tat.get(("rpm", q.scope, q.scope_id), 0.0), now, q.rpm, 1)
            for q in (key, tenant)
        ]
        granted = plan.granted_completion
        if admission.max_completion:
            granted = min(granted, min(key.tpm, tenant.tpm) - admission.prompt_tokens)
        reserved = admission.prompt_tokens + max(granted, 0)
        tokens = [
            gcra.check(self._tat.get(("tpm", q.scope, q.scope_id), 0.0), now, q.tpm, reserved)
            for q in (key, tenant)
        ]
        headroom = _headroom((key, tenant), requests, tokens)
        if plan.refused_scope is not None:
            return Decision(
                False,
                headroom,
                code="budget_exceeded",
                scope=plan.refused_scope,
                retry_after_s=budget_retry_after(plan.refused_period),
            )
        if admission.max_completion and granted < 1:
            return Decision(
                False,
                headroom,
                code="tokens_rate_limited",
                retry_after_s=gcra.WINDOW_S,
                scope="key" if key.tpm <= tenant.tpm else "tenant",
            )
        if admission.lease:
            for quota in (key, tenant):
                held = self._live_leases(quota, now)
                if len(held) >= quota.concurrent:
                    return Decision(
                        False,
                        headroom,
                        code="concurrency_limited",
                        retry_after_s=1.0,
                        scope=quota.scope,
                    )
        for code, verdicts in (("rate_limited", requests), ("tokens_rate_limited", tokens)):
            for quota, verdict in zip((key, tenant), verdicts, strict=True):
                if not verdict.allowed:
                    return Decision(
                        False,
                        headroom,
                        code=code,
                        retry_after_s=verdict.retry_after_s,
                        scope=quota.scope,
                    )
        for quota, r, t in zip((key, tenant), requests, tokens, strict=True):
            self._tat[("rpm", quota.scope, quota.scope_id)] = r.tat
            self._tat[("tpm", quota.scope, quota.scope_id)] = t.tat
        lease_id = None
        if admission.lease:
            lease_id = uuid.uuid4().hex
            for quota in (key, tenant):
                self._live_leases(quota, now)[lease_id] = now + self._lease_ttl_s
        for quota, period in plan.charges:
            self._spent[(quota.scope, quota.scope_id, period, admission.periods[period])] += (
                reserved
            )
        ticket = Ticket(admission=admission, reserved=reserved, lease_id=lease_id)
        return Decision(True, headroom, ticket=ticket, granted_completion=max(granted, 0))

    def _live_leases(self, quota: Quota, now: float) -> dict[str, float]:
        leases = self._leases.setdefault((quota.scope, quota.scope_id), {})
        for lease_id in [lid for lid, expiry in leases.items() if expiry <= now]:
            del leases[lease_id]  # a crashed or forgotten holder: its slot comes back
        return leases

    async def settle(self, ticket: Ticket, used_tokens: int) -> None:
        admission = ticket.admission
        unused = ticket.reserved - used_tokens
        for quota in (admission.key, admission.tenant):
            slot = ("tpm", quota.scope, quota.scope_id)
            if slot in self._tat:
                self._tat[slot] = gcra.refund(self._tat[slot], quota.tpm, unused)
            if ticket.lease_id is not None:
                self._leases.get((quota.scope, quota.scope_id), {}).pop(ticket.lease_id, None)
            for period, budget in quota.budgets().items():
                bucket = (quota.scope, quota.scope_id, period, admission.periods[period])
                if budget is not None and bucket in self._spent:
                    self._spent[bucket] -= unused

    async def renew(self, ticket: Ticket) -> None:
        if ticket.lease_id is None:
            return
        expiry = self._clock() + self._lease_ttl_s
        for quota in (ticket.admission.key, ticket.admission.tenant):
            leases = self._leases.get((quota.scope, quota.scope_id), {})
            if ticket.lease_id in leases:
                leases[ticket.lease_id] = expiry

    async def auth_retry_after(self, ip: str, per_minute: int) -> float:
        verdict = gcra.check(self._auth_tat.get(ip, 0.0), self._clock(), per_minute, 1)
        return verdict.retry_after_s

    async def auth_failed(self, ip: str, per_minute: int) -> None:
        now = self._clock()
        if len(self._auth_tat) > MAX_THROTTLED_IPS:
            self._auth_tat = {a: t for a, t in self._auth_tat.items() if t > now}
        verdict = gcra.check(self._auth_tat.get(ip, 0.0), now, per_minute, 1)
        if verdict.allowed:
            self._auth_tat[ip] = verdict.tat

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _headroom(
    quotas: tuple[Quota, Quota], requests: list[gcra.Verdict], tokens: list[gcra.Verdict]
) -> Headroom:
    """Report the scope closer to its limit (what a client must respect)."""
    r = min(range(2), key=lambda i: requests[i].remaining)
    t = min(range(2), key=lambda i: tokens[i].remaining)
    return Headroom(
        limit_requests=quotas[r].rpm,
        remaining_requests=requests[r].remaining,
        reset_requests_s=requests[r].reset_s,
        limit_tokens=quotas[t].tpm,
        remaining_tokens=tokens[t].remaining,
        reset_tokens_s=tokens[t].reset_s,
    )
