"""The bounded audit buffer and its single background writer (SPEC §8, §14).

Requests append rows (no database write on the request path); the writer drains them in batches.
When the buffer holds AUDIT_BUFFER_SIZE rows the gateway is in deny mode: new requests are refused
with 503 until the writer catches up. Rows of requests already admitted are always accepted, so a
full buffer never loses a served request's row; a failed write puts the batch back. Shutdown drains
what is left before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from neuronetz_gateway.db.audit import AuditRow, PromptRow, insert_batch
from neuronetz_gateway.lifecycle import pause

log = logging.getLogger("neuronetz_gateway.audit")

BATCH_SIZE = 500
INTERVAL_S = 0.25
RETRY_S = 1.0


class AuditBuffer:
    """Rows waiting to be written, in arrival order."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: list[AuditRow] = []
        self._prompts: list[PromptRow] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def depth(self) -> int:
        return len(self._rows)

    @property
    def denying(self) -> bool:
        """Deny mode: the buffer is full, new requests must wait for the writer."""
        return len(self._rows) >= self.capacity

    def record(self, row: AuditRow, prompt: PromptRow | None = None) -> None:
        """Keep a row (always: it belongs to a request that was already let in)."""
        self._rows.append(row)
        if prompt is not None:
            self._prompts.append(prompt)
        if len(self._rows) >= BATCH_SIZE or self.denying:
            self._wake.set()

    async def flush_once(self) -> bool:
        """Write one batch; on failure keep it. True when the batch (or nothing) was written."""
        async with self._lock:
            rows, prompts = self._rows[:BATCH_SIZE], self._prompts[:BATCH_SIZE]
            if not rows and not prompts:
                return True
            try:
                await insert_batch(rows, prompts)
            except Exception as exc:
                log.warning(
                    "audit rows not yet written (%d waiting): %s",
                    len(self._rows),
                    type(exc).__name__,
                )
                return False
            del self._rows[: len(rows)]
            del self._prompts[: len(prompts)]
            return True

    async def drain(self) -> bool:
        """Write everything now (shutdown); False when the database refused."""
        while self._rows or self._prompts:
            if not await self.flush_once():
                return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """The writer: batch every INTERVAL_S, or at once when a batch is full, until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), INTERVAL_S)
            self._wake.clear()
            if not await self.drain() and await pause(stop, RETRY_S):
                return
