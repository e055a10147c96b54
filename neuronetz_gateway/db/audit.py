"""Named queries on audit records and prompt logs: batched inserts, reports, purge."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from neuronetz_gateway.db.tables import AuditRecord, PromptLog


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One request as the audit log keeps it (SPEC §8)."""

    created_at: datetime
    request_id: str
    tenant_id: int | None
    key_prefix: str | None
    client_ip: str
    method: str
    path: str
    model: str | None
    backend: str | None
    status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttfb_ms: float | None
    streamed: bool
    client_disconnected: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PromptRow:
    """An opted-in key's request and the response text."""

    created_at: datetime
    request_id: str
    tenant_id: int | None
    key_prefix: str
    model: str | None
    request_body: str
    response_text: str
    expires_at: datetime


async def insert_batch(audit: list[AuditRow], prompts: list[PromptRow]) -> None:
    """Write a batch in one transaction (one multi-row INSERT per table)."""
    async with AuditRecord._meta.db.transaction():
        if audit:
            await AuditRecord.insert(*(AuditRecord(**asdict(row)) for row in audit)).run()
        if prompts:
            await PromptLog.insert(*(PromptLog(**asdict(row)) for row in prompts)).run()


async def query_audit(
    tenant_id: int | None = None,
    key_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered."""
    query = AuditRecord.select().order_by(AuditRecord.id, ascending=False).limit(limit)
    if tenant_id is not None:
        query = query.where(AuditRecord.tenant_id == tenant_id)
    if key_prefix is not None:
        query = query.where(AuditRecord.key_prefix == key_prefix)
    if since is not None:
        query = query.where(AuditRecord.created_at >= since)
    if until is not None:
        query = query.where(AuditRecord.created_at < until)
    if status is not None:
        query = query.where(AuditRecord.status == status)
    rows: list[dict[str, Any]] = await query.run()
    return rows


async def query_prompts(key_prefix: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Prompt logs, newest first."""
    query = PromptLog.select().order_by(PromptLog.id, ascending=False).limit(limit)
    if key_prefix is not None:
        query = query.where(PromptLog.key_prefix == key_prefix)
    rows: list[dict[str, Any]] = await query.run()
    return rows


async def purge_expired(now: datetime) -> tuple[int, int]:
    """Delete expired audit rows and prompt logs; return how many of each."""
    audit = await AuditRecord.count().where(AuditRecord.expires_at <= now).run()
    prompts = await PromptLog.count().where(PromptLog.expires_at <= now).run()
    await AuditRecord.delete().where(AuditRecord.expires_at <= now).run()
    await PromptLog.delete().where(PromptLog.expires_at <= now).run()
    return int(audit), int(prompts)
