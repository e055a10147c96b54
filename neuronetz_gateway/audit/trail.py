"""The end of every request: its audit row (and prompt log), its access-log line, its metrics."""

from __future__ import annotations

import logging

from neuronetz_gateway.audit.buffer import AuditBuffer
from neuronetz_gateway.audit.record import audit_row, prompt_row
from neuronetz_gateway.config import Settings
from neuronetz_gateway.edge.context import RequestContext
from neuronetz_gateway.metrics import Metrics

access_log = logging.getLogger("neuronetz_gateway.access")

# Probes are not API traffic: counted, not audited or access-logged (they would drown both).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
REFUSAL_CODES = frozenset(
    {
        "rate_limited",
        "tokens_rate_limited",
        "concurrency_limited",
        "budget_exceeded",
        "auth_throttled",
    }
)


class Trail:
    """Records finished requests; called exactly once per request."""

    def __init__(self, settings: Settings, buffer: AuditBuffer, metrics: Metrics) -> None:
        self.settings, self.buffer, self.metrics = settings, buffer, metrics

    def finish(self, ctx: RequestContext) -> None:
        row = audit_row(ctx, self.settings)
        tenant = ctx.caller.tenant.name if ctx.caller else ""
        route = ctx.route or "other"
        metrics = self.metrics
        metrics.requests.inc(route, str(row.status), tenant)
        if route in PROBES:
            return
        self.buffer.record(row, prompt_row(ctx, self.settings, ctx.request_body or {}))
        metrics.latency.observe(row.latency_ms / 1000, route)
        if ctx.streamed and row.ttfb_ms is not None:
            metrics.ttfb.observe(row.ttfb_ms / 1000, route)
        if row.prompt_tokens or row.completion_tokens:
            metrics.tokens.inc(tenant, "prompt", amount=row.prompt_tokens)
            metrics.tokens.inc(tenant, "completion", amount=row.completion_tokens)
        if row.error_code in REFUSAL_CODES:
            metrics.refusals.inc(row.error_code or "")
        access_log.info(
            "%s %s %d %.1fms tenant=%s key=%s id=%s",
            row.method,
            row.path,
            row.status,
            row.latency_ms,
            tenant or "-",
            row.key_prefix or "-",
            row.request_id,
            extra={
                "request_id": row.request_id,
                "tenant": tenant or None,
                "key_prefix": row.key_prefix,
                "status": row.status,
                "latency_ms": row.latency_ms,
                "method": row.method,
                "path": row.path,
            },
        )
