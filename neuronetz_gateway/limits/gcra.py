"""GCRA, the rate-limit math shared by both stores (the Redis Lua script mirrors it line by line).

A limit of N per 60 s is a bucket of N units refilled at N/60 per second, written as a single
number, the theoretical arrival time (TAT): the instant the bucket would be full again. A request
of cost c is admitted when the bucket holds c units, i.e. when max(TAT, now) + c*T - now <= 60 s
with T = 60/N; admitting moves TAT forward by c*T.

Burst behaviour: a key idle for a minute may spend its whole N at once, then is paced at N/60 per
second; over any 60-second window at most about 2N - 1 units pass (a full burst, then a minute of
refill). Tokens per minute use the same bucket with c = the request's reserved tokens; settlement
gives back what was reserved but not used (TAT moves back by the difference).
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one bucket: allowed or not, and what the headers report."""

    allowed: bool
    tat: float  # the new TAT if allowed, the unchanged one if not
    remaining: int  # whole units left after this request
    retry_after_s: float  # 0 when allowed
    reset_s: float  # seconds until the bucket is full again


def check(tat: float, now: float, limit: int, cost: float) -> Verdict:
    """Would a request of `cost` units fit into the bucket at `now`?"""
    interval = WINDOW_S / limit
    start = max(tat, now)
    new_tat = start + cost * interval
    if new_tat - now > WINDOW_S + 1e-9:
        return Verdict(
            False, tat, _remaining(start, now, interval), new_tat - now - WINDOW_S, start - now
        )
    return Verdict(True, new_tat, _remaining(new_tat, now, interval), 0.0, new_tat - now)


def refund(tat: float, limit: int, units: float) -> float:
    """Give back `units` (negative units charge more): TAT moves by units * T."""
    return tat - units * (WINDOW_S / limit)


def _remaining(tat: float, now: float, interval: float) -> int:
    return max(0, int((WINDOW_S - (tat - now)) / interval + 1e-9))
