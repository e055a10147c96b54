"""The durable usage ledger: settled tokens, counted per tenant and key, per UTC day, month, total.

Requests add to in-memory buckets (no database write on the request path); a background task
writes them in one transaction a second. A failed write keeps the buckets and retries, so a
database outage delays usage but never loses it (SPEC §1.5, §14); shutdown flushes what is left.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, date, datetime

from neuronetz_gateway.db.usage import UsageDelta, add_usage, read_usage
from neuronetz_gateway.lifecycle import pause

log = logging.getLogger("neuronetz_gateway.ledger")

Bucket = tuple[str, int, str, str]


def period_starts(when: datetime) -> dict[str, str]:
    """The bucket each budget period puts `when` in (UTC)."""
    return _period_starts(when.astimezone(UTC).date())


@functools.lru_cache(maxsize=4)
def _period_starts(day: date) -> dict[str, str]:
    # strftime per request showed up in profiles; the answer only changes at midnight UTC.
    return {"day": day.isoformat(), "month": day.isoformat()[:7], "total": "all"}


class UsageLedger:
    """Accumulates settled usage and writes it in batches."""

    def __init__(self, flush_interval_s: float = 1.0) -> None:
        self._pending: dict[Bucket, list[int]] = {}
        self._interval = flush_interval_s
        self._lock = asyncio.Lock()

    def add(self, tenant_id: int, key_id: int, prompt_tokens: int, completion_tokens: int) -> None:
        """Count one settled request (synchronous, O(1))."""
        for period, start in period_starts(datetime.now(UTC)).items():
            for scope, scope_id in (("tenant", tenant_id), ("key", key_id)):
                counts = self._pending.setdefault((scope, scope_id, period, start), [0, 0, 0])
                counts[0] += 1
                counts[1] += prompt_tokens
                counts[2] += completion_tokens

    def pending_tokens(self, scope: str, scope_id: int, period: str, start: str) -> int:
        """Settled tokens of one bucket not yet written to the database."""
        counts = self._pending.get((scope, scope_id, period, start))
        return counts[1] + counts[2] if counts else 0

    @property
    def pending(self) -> int:
        """Buckets waiting to be written."""
        return len(self._pending)

    async def flush(self) -> bool:
        """Write what is pending; on failure keep it for the next try. True when all was written."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return True
            deltas = [
                UsageDelta(scope, scope_id, period, start, *counts)
                for (scope, scope_id, period, start), counts in batch.items()
            ]
            try:
                await add_usage(deltas)
                return True
            except Exception as exc:
                log.warning(
                    "usage not yet durable (%d buckets kept): %s", len(batch), type(exc).__name__
                )
                for bucket, counts in batch.items():
                    merged = self._pending.setdefault(bucket, [0, 0, 0])
                    for index, value in enumerate(counts):
                        merged[index] += value
                return False

    async def run(self, stop: asyncio.Event) -> None:
        """Flush until `stop` is set (a background task of the runtime)."""
        while not await pause(stop, self._interval):
            await self.flush()


async def spent_tokens(
    ledger: UsageLedger, scope: str, scope_id: int, period: str, start: str
) -> int:
    """Settled tokens of one bucket: durable counters plus what the ledger has yet to write."""
    _, prompt, completion = await read_usage(scope, scope_id, period, start)
    return prompt + completion + ledger.pending_tokens(scope, scope_id, period, start)
