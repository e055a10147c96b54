"""Turn a finished request's context into its audit row and, for opted-in keys, its prompt log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from neuronetz_gateway.config import Settings
from neuronetz_gateway.db.audit import AuditRow, PromptRow
from neuronetz_gateway.edge.context import RequestContext

MAX_PROMPT_LOG_CHARS = 256 * 1024


def audit_row(ctx: RequestContext, settings: Settings) -> AuditRow:
    """The row SPEC §8 asks for; never the key, only its public prefix."""
    now = datetime.now(UTC)
    latency_ms = (time.monotonic() - ctx.started) * 1000
    ttfb_ms = (ctx.first_byte_at - ctx.started) * 1000 if ctx.first_byte_at else None
    caller = ctx.caller
    return AuditRow(
        created_at=now,
        request_id=ctx.request_id,
        tenant_id=caller.tenant.id if caller else None,
        key_prefix=caller.key.prefix if caller else None,
        client_ip=ctx.client_ip[:45],
        method=ctx.method[:16],
        path=ctx.path[:512],
        model=ctx.model,
        backend=ctx.backend,
        status=ctx.status,
        error_code=ctx.error_code,
        prompt_tokens=ctx.prompt_tokens,
        completion_tokens=ctx.completion_tokens,
        latency_ms=round(latency_ms, 3),
        ttfb_ms=round(ttfb_ms, 3)
        if ttfb_ms is not None
        else (round(latency_ms, 3) if ctx.status else None),
        streamed=ctx.streamed,
        client_disconnected=ctx.client_disconnected,
        expires_at=now + timedelta(days=settings.audit_log_default_retention_days),
    )


def logs_prompts(ctx: RequestContext) -> bool:
    """Prompt logging is opt-in per key (falling back to the tenant's default)."""
    caller = ctx.caller
    if caller is None:
        return False
    if caller.key.log_prompts is not None:
        return caller.key.log_prompts
    return caller.tenant.log_prompts


def prompt_row(
    ctx: RequestContext, settings: Settings, request_body: dict[str, Any]
) -> PromptRow | None:
    """The prompt log of an opted-in key's model call, with the response text reassembled."""
    caller = ctx.caller
    if caller is None or ctx.transcript is None or not logs_prompts(ctx):
        return None
    days = (
        caller.key.prompt_retention_days
        or caller.tenant.prompt_retention_days
        or settings.prompt_log_default_retention_days
    )
    now = datetime.now(UTC)
    kept = {
        k: request_body[k]
        for k in ("messages", "prompt", "system", "suffix", "input")
        if k in request_body
    }
    return PromptRow(
        created_at=now,
        request_id=ctx.request_id,
        tenant_id=caller.tenant.id,
        key_prefix=caller.key.prefix,
        model=ctx.model,
        request_body=json.dumps(kept)[:MAX_PROMPT_LOG_CHARS],
        response_text=response_text(bytes(ctx.transcript), ctx.streamed)[:MAX_PROMPT_LOG_CHARS],
        expires_at=now + timedelta(days=days),
    )


def response_text(raw: bytes, streamed: bool) -> str:
    """The answer's text from a whole JSON answer, NDJSON lines or SSE events, either surface."""
    if not streamed:
        return _text_of(_load(raw))
    parts = []
    for line in raw.splitlines():
        line = line.strip()
        if line.startswith(b"data:"):
            line = line[5:].strip()
        if line and line != b"[DONE]":
            parts.append(_text_of(_load(line)))
    return "".join(parts)


def _load(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text_of(answer: dict[str, Any]) -> str:
    if isinstance(answer.get("message"), dict):
        return str(answer["message"].get("content") or "")
    if "response" in answer:
        return str(answer.get("response") or "")
    texts = []
    for choice in answer.get("choices") or []:
        if isinstance(choice, dict):
            message = choice.get("delta") or choice.get("message") or {}
            texts.append(str(message.get("content") or choice.get("text") or ""))
    return "".join(texts)
