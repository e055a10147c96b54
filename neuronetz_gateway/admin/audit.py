"""Audit reports and the purge of expired rows, for operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.admin.keys import require_key
from neuronetz_gateway.admin.tenants import require_tenant
from neuronetz_gateway.db import tenants
from neuronetz_gateway.db.audit import purge_expired, query_audit

AUDIT_FIELDS = (
    "created_at",
    "request_id",
    "tenant",
    "key_prefix",
    "client_ip",
    "method",
    "path",
    "model",
    "backend",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttfb_ms",
    "streamed",
    "client_disconnected",
)


async def audit_report(
    tenant_name: str | None = None,
    key_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows as plain dicts (newest first), with the tenant's name instead of its id."""
    if limit < 1:
        raise AdminError("limit must be at least 1")
    tenant_id = (await require_tenant(tenant_name)).id if tenant_name else None
    if key_prefix is not None:
        await require_key(key_prefix)
    rows = await query_audit(tenant_id, key_prefix, since, until, status, limit)
    names = {t.id: t.name for t in await tenants.list_tenants()}
    report = []
    for row in rows:
        row["tenant"] = names.get(row["tenant_id"]) if row["tenant_id"] is not None else None
        row["created_at"] = row["created_at"].astimezone(UTC).isoformat(timespec="milliseconds")
        row["streamed"], row["client_disconnected"] = (
            bool(row["streamed"]),
            bool(row["client_disconnected"]),
        )
        report.append({name: row[name] for name in AUDIT_FIELDS})
    return report


async def purge() -> tuple[int, int]:
    """Delete audit rows and prompt logs past their expiry."""
    return await purge_expired(datetime.now(UTC))
