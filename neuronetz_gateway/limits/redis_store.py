"""The Redis limit store: the same admission as `memory_store`, as one Lua script per call.

Every key of one request sits under its tenant's hash tag (`nz:{t42}:…`), so a script only ever
touches one Redis Cluster slot. Time comes from Redis (`TIME`), so instances with drifting clocks
still share one view. Budget buckets missing from Redis are loaded from the durable usage counters
and handed to the script, which sets them only if still missing. Any Redis failure raises
LimitsUnavailable: the gateway fails closed instead of falling back to per-process counters.
"""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuronetz_gateway.limits.effective import Quota
from neuronetz_gateway.limits.store import (
    LEASE_TTL_S,
    Admission,
    Baseline,
    Decision,
    Headroom,
    LimitsUnavailable,
    Ticket,
    budget_retry_after,
)

# KEYS: rpm_k rpm_t tpm_k tpm_t conc_k conc_t budget...
# ARGV: rpm_k rpm_t tpm_k tpm_t conc_k conc_t prompt max_completion lease(0/1) lease_id lease_ttl_ms
#       then per budget key: limit scope(1 key, 2 tenant) init(-1 unknown) ttl_s
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local WINDOW = 60000
local rpm = {tonumber(ARGV[1]), tonumber(ARGV[2])}
local tpm = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local conc = {tonumber(ARGV[5]), tonumber(ARGV[6])}
local prompt, want = tonumber(ARGV[7]), tonumber(ARGV[8])
local lease, lease_id, lease_ttl = ARGV[9] == '1', ARGV[10], tonumber(ARGV[11])

local function check(key, limit, cost)
  local tat = tonumber(redis.call('GET', key) or '0')
  local interval = WINDOW / limit
  local start = math.max(tat, now)
  local new_tat = start + cost * interval
  if new_tat - now > WINDOW then
    local left = math.max(0, math.floor((WINDOW - (start - now)) / interval))
    return {false, tat, left, new_tat - now - WINDOW, start - now}
  end
  local left = math.max(0, math.floor((WINDOW - (new_tat - now)) / interval))
  return {true, new_tat, left, 0, new_tat - now}
end

-- budgets: load, then clamp the completion to the tightest one
local granted = want
local missing = {}
local budgets = {}
local nb = (#KEYS - 6)
for i = 1, nb do
  local base = 11 + (i - 1) * 4
  local key = KEYS[6 + i]
  local limit, scope = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local init, ttl = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local spent = redis.call('GET', key)
  if not spent then
    if init < 0 then
      table.insert(missing, i)
    else
      redis.call('SET', key, init, 'EX', ttl, 'NX')
      spent = redis.call('GET', key)
    end
  end
  budgets[i] = {key, limit, scope, tonumber(spent or '0')}
end
if #missing > 0 then
  return {'init', missing}
end
local tokens_call = prompt > 0 or want > 0
if tokens_call then
  local need = 0
  if want > 0 then need = 1 end
  for i = 1, nb do
    local b = budgets[i]
    local left = b[2] - b[4] - prompt
    if left < need then
      return {'deny', 'budget_exceeded', b[3], i, 0}
    end
    if want > 0 and left < granted then granted = left end
  end
end
if want > 0 then
  granted = math.min(granted, math.min(tpm[1], tpm[2]) - prompt)
end
if granted < 0 then granted = 0 end
local reserved = prompt + granted

local keys_rpm, keys_tpm = {KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}
local keys_conc = {KEYS[5], KEYS[6]}
local r = {check(keys_rpm[1], rpm[1], 1), check(keys_rpm[2], rpm[2], 1)}
local k = {check(keys_tpm[1], tpm[1], reserved), check(keys_tpm[2], tpm[2], reserved)}
local ri, ti = 1, 1
if r[2][3] < r[1][3] then ri = 2 end
if k[2][3] < k[1][3] then ti = 2 end
local head = {rpm[ri], r[ri][3], math.floor(r[ri][5]), tpm[ti], k[ti][3], math.floor(k[ti][5])}

local function deny(code, scope, retry_ms)
  return {'deny', code, scope, math.ceil(retry_ms), 0,
          head[1], head[2], head[3], head[4], head[5], head[6]}
end
if want > 0 and granted < 1 then
  local scope = 1
  if tpm[2] < tpm[1] then scope = 2 end
  return deny('tokens_rate_limited', scope, WINDOW)
end
if lease then
  for i = 1, 2 do
    redis.call('ZREMRANGEBYSCORE', keys_conc[i], '-inf', now)
    if redis.call('ZCARD', keys_conc[i]) >= conc[i] then
      return deny('concurrency_limited', i, 1000)
    end
  end
end
for i = 1, 2 do
  if not r[i][1] then return deny('rate_limited', i, r[i][4]) end
end
for i = 1, 2 do
  if not k[i][1] then return deny('tokens_rate_limited', i, k[i][4]) end
end
for i = 1, 2 do
  redis.call('SET', keys_rpm[i], r[i][2], 'PX', WINDOW * 2)
  redis.call('SET', keys_tpm[i], k[i][2], 'PX', WINDOW * 2)
  if lease then
    redis.call('ZADD', keys_conc[i], now + lease_ttl, lease_id)
    redis.call('PEXPIRE', keys_conc[i], lease_ttl * 2)
  end
end
if tokens_call then
  for i = 1, nb do redis.call('INCRBY', budgets[i][1], reserved) end
end
return {'ok', '', 0, 0, granted, head[1], head[2], head[3], head[4], head[5], head[6], reserved}
"""

# KEYS: tpm_k tpm_t conc_k conc_t budget...   ARGV: tpm_k tpm_t unused lease_id
_SETTLE = """
local unused = tonumber(ARGV[3])
for i = 1, 2 do
  local tat = redis.call('GET', KEYS[i])
  if tat and unused ~= 0 then
    redis.call('SET', KEYS[i], tonumber(tat) - unused * (60000 / tonumber(ARGV[i])), 'KEEPTTL')
  end
  if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2 + i], ARGV[4]) end
end
for i = 5, #KEYS do
  if unused ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('DECRBY', KEYS[i], unused)
  end
end
return 1
"""

_RENEW = """
local expiry = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], now + expiry, ARGV[1])
  end
end
return 1
"""

# KEYS: the IP's failure bucket. ARGV: limit, apply(0/1). Returns retry-after in ms (0: allowed).
_AUTH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = 60000 / tonumber(ARGV[1])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local new_tat = start + interval
if new_tat - now > 60000 then return math.ceil(new_tat - now - 60000) end
if ARGV[2] == '1' then redis.call('SET', KEYS[1], new_tat, 'PX', 120000) end
return 0
"""

_BUDGET_TTL_S = {"day": 3 * 86400, "month": 63 * 86400, "total": 30 * 86400}
_SCOPES = {1: "key", 2: "tenant"}


def _tag(tenant_id: int) -> str:
    return f"nz:{{t{tenant_id}}}"


def _keys(admission: Admission) -> tuple[list[str], list[tuple[Quota, str, str]]]:
    tag = _tag(admission.tenant.scope_id)
    key, tenant = admission.key, admission.tenant
    keys = [
        f"{tag}:rpm:key:{key.scope_id}",
        f"{tag}:rpm:tenant",
        f"{tag}:tpm:key:{key.scope_id}",
        f"{tag}:tpm:tenant",
        f"{tag}:conc:key:{key.scope_id}",
        f"{tag}:conc:tenant",
    ]
    budgets = []
    for quota in (key, tenant):
        for period, budget in quota.budgets().items():
            if budget is not None:
                start = admission.periods[period]
                budgets.append(
                    (quota, period, f"{tag}:budget:{quota.scope}:{quota.scope_id}:{period}:{start}")
                )
    return keys + [b[2] for b in budgets], budgets


class RedisStore:
    """Limits and budgets shared by every instance through one Redis."""

    def __init__(self, redis: Redis, baseline: Baseline, lease_ttl_s: float = LEASE_TTL_S) -> None:
        self._redis = redis
        self._baseline = baseline
        self._lease_ttl_ms = int(lease_ttl_s * 1000)
        self._admit = redis.register_script(_ADMIT)
        self._settle = redis.register_script(_SETTLE)
        self._renew = redis.register_script(_RENEW)
        self._auth = redis.register_script(_AUTH)

    async def admit(self, admission: Admission) -> Decision:
        keys, budgets = _keys(admission)
        lease_id = uuid.uuid4().hex if admission.lease else ""
        key, tenant = admission.key, admission.tenant
        args: list[Any] = [
            key.rpm,
            tenant.rpm,
            key.tpm,
            tenant.tpm,
            key.concurrent,
            tenant.concurrent,
            admission.prompt_tokens,
            admission.max_completion,
            int(admission.lease),
            lease_id,
            self._lease_ttl_ms,
        ]
        inits = [-1] * len(budgets)
        for _ in range(2):
            budget_args: list[Any] = []
            for (quota, period, _key), init in zip(budgets, inits, strict=True):
                limit = quota.budgets()[period]
                budget_args += [
                    limit,
                    1 if quota.scope == "key" else 2,
                    init,
                    _BUDGET_TTL_S[period],
                ]
            result = await self._call(self._admit, keys, args + budget_args)
            if result[0] != b"init":
                return self._decision(result, admission, budgets, lease_id or None)
            for index in result[1]:
                quota, period, _key = budgets[int(index) - 1]
                inits[int(index) - 1] = await self._baseline(
                    quota.scope, quota.scope_id, period, admission.periods[period]
                )
        raise LimitsUnavailable("budget buckets kept disappearing")

    def _decision(
        self,
        result: list[Any],
        admission: Admission,
        budgets: list[tuple[Quota, str, str]],
        lease_id: str | None,
    ) -> Decision:
        status, code, scope = result[0], result[1].decode(), int(result[2] or 0)
        if code == "budget_exceeded":
            headroom = Headroom(admission.key.rpm, 0, 0.0, admission.key.tpm, 0, 0.0)
            _quota, period, _key = budgets[int(result[3]) - 1]
            return Decision(
                False,
                headroom,
                code=code,
                scope=_SCOPES.get(scope),
                retry_after_s=budget_retry_after(period),
            )
        headroom = Headroom(
            limit_requests=int(result[5]),
            remaining_requests=int(result[6]),
            reset_requests_s=int(result[7]) / 1000,
            limit_tokens=int(result[8]),
            remaining_tokens=int(result[9]),
            reset_tokens_s=int(result[10]) / 1000,
        )
        if status == b"deny":
            return Decision(
                False,
                headroom,
                code=code,
                scope=_SCOPES.get(scope),
                retry_after_s=int(result[3]) / 1000,
            )
        ticket = Ticket(admission=admission, reserved=int(result[11]), lease_id=lease_id)
        return Decision(True, headroom, ticket=ticket, granted_completion=int(result[4]))

    async def settle(self, ticket: Ticket, used_tokens: int) -> None:
        keys, _ = _keys(ticket.admission)
        admission = ticket.admission
        settle_keys = [keys[2], keys[3], keys[4], keys[5], *keys[6:]]
        unused = ticket.reserved - used_tokens
        await self._call(
            self._settle,
            settle_keys,
            [admission.key.tpm, admission.tenant.tpm, unused, ticket.lease_id or ""],
        )

    async def renew(self, ticket: Ticket) -> None:
        if ticket.lease_id is None:
            return
        keys, _ = _keys(ticket.admission)
        await self._call(self._renew, [keys[4], keys[5]], [ticket.lease_id, self._lease_ttl_ms])

    async def auth_retry_after(self, ip: str, per_minute: int) -> float:
        return (
            int(await self._call(self._auth, [f"nz:{{ip:{ip}}}:authfail"], [per_minute, 0])) / 1000
        )

    async def auth_failed(self, ip: str, per_minute: int) -> None:
        await self._call(self._auth, [f"nz:{{ip:{ip}}}:authfail"], [per_minute, 1])

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise LimitsUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        return None

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise LimitsUnavailable(type(exc).__name__) from exc
