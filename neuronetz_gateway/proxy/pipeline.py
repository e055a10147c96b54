"""Steps 6-12 for one model call; the only module that knows their order (SPEC §3).

Both surfaces call `call_model` with an `Endpoint` saying where the call goes upstream and how
its answer is framed; everything else (authorization, caps, backend choice, relay, accounting)
is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from blacksheep import Content, Request, Response, StreamedContent

from neuronetz_gateway.audit.record import logs_prompts
from neuronetz_gateway.backends.discovery import BackendState
from neuronetz_gateway.edge.context import RequestContext, Surface
from neuronetz_gateway.errors import GatewayError
from neuronetz_gateway.limits.admission import admit
from neuronetz_gateway.limits.headers import rate_headers
from neuronetz_gateway.limits.store import LEASE_TTL_S, LimitsUnavailable, Ticket
from neuronetz_gateway.policy.access import effective_models
from neuronetz_gateway.policy.models import BadModelName, normalize_model
from neuronetz_gateway.policy.options import cap_native, cap_openai, narrow_completion
from neuronetz_gateway.proxy.streaming import NdjsonMeter, SseMeter, relay
from neuronetz_gateway.proxy.upstream import open_upstream, read_limited
from neuronetz_gateway.proxy.usage import Usage, estimate_prompt_tokens, native_usage, openai_usage
from neuronetz_gateway.runtime import Runtime

log = logging.getLogger("neuronetz_gateway.pipeline")

_STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One proxied model call: its upstream path and how its answer is framed and counted."""

    upstream_path: str
    surface: Surface
    generates: bool  # produces completion tokens: capped, streamable


def model_not_found(name: str) -> GatewayError:
    # Same answer for unknown and forbidden models: the tenant learns nothing it may not use.
    return GatewayError(404, "model_not_found", f"model '{name}' not found")


def no_backend() -> GatewayError:
    return GatewayError(503, "no_backend", "no backend is available to serve models right now")


def allowed_models(runtime: Runtime, ctx: RequestContext) -> dict[str, dict[str, Any]]:
    """The caller's effective models with their tags entries (step 6); 503 when none is known."""
    assert ctx.caller is not None
    discovered = runtime.discovery.models()
    if not discovered:
        raise no_backend()  # SPEC §1.3: an unknown model set fails closed
    allowed = effective_models(discovered, ctx.caller.tenant, ctx.caller.key)
    return {name: entry for name, entry in discovered.items() if name in allowed}


def authorize_model(runtime: Runtime, ctx: RequestContext, name: object) -> str:
    """Step 6: the normalized model name, if the caller may use it."""
    if not isinstance(name, str) or not name:
        raise GatewayError(
            400, "bad_request", "'model' is required and must be a string", param="model"
        )
    try:
        model = normalize_model(name)
    except BadModelName as exc:
        raise GatewayError(400, "bad_request", str(exc), param="model") from None
    ctx.model = model
    if model not in allowed_models(runtime, ctx):
        raise model_not_found(name)
    return model


async def call_model(
    runtime: Runtime,
    ctx: RequestContext,
    request: Request,
    body: dict[str, Any],
    endpoint: Endpoint,
) -> Response:
    """Authorize, cap, admit, choose a backend, forward, relay and account for one model call."""
    caller = ctx.caller
    assert caller is not None
    model = authorize_model(runtime, ctx, body.get("model"))  # step 6
    stream = _wants_stream(body, endpoint)
    # Step 9 runs before 7-8 here because the reservation needs the capped completion size;
    # the admission then narrows that cap to what the budgets and TPM can still hold.
    wanted = 0
    if endpoint.surface == "ollama":
        wanted = cap_native(body, runtime.caps, endpoint.generates)
    elif endpoint.generates:
        wanted = cap_openai(body, runtime.caps)
    prompt_estimate = estimate_prompt_tokens(body)
    decision = await admit(  # steps 7-8
        runtime.limits,
        runtime.settings,
        caller.key,
        caller.tenant,
        prompt_tokens=prompt_estimate,
        max_completion=wanted,
        lease=True,
    )
    ctx.rate_headers = rate_headers(decision.headroom)
    assert decision.ticket is not None
    if endpoint.generates and decision.granted_completion < wanted:
        narrow_completion(body, endpoint.surface == "ollama", decision.granted_completion)
    if logs_prompts(ctx):
        ctx.transcript = bytearray()
        ctx.request_body = dict(body)
    settle = Settlement(runtime, ctx, decision.ticket)
    try:
        return await _forward(
            runtime, ctx, request, body, endpoint, model, stream, settle, prompt_estimate
        )
    except BaseException:
        await settle(Usage())  # no-op when the answer already settled
        raise


def _wants_stream(body: dict[str, Any], endpoint: Endpoint) -> bool:
    if not isinstance(body.get("stream", False), bool):
        raise GatewayError(400, "bad_request", "'stream' must be true or false", param="stream")
    if endpoint.surface == "ollama":  # Ollama streams unless told not to; OpenAI only when asked
        return endpoint.generates and body.get("stream") is not False
    return endpoint.generates and body.get("stream") is True


class Settlement:
    """Step 12, exactly once per admitted call: usage to the ledger, the reservation settled."""

    def __init__(self, runtime: Runtime, ctx: RequestContext, ticket: Ticket) -> None:
        self.runtime, self.ctx, self.ticket = runtime, ctx, ticket
        self.backend: BackendState | None = None
        self.renewer: asyncio.Task[None] | None = None
        self.done = False

    async def __call__(self, usage: Usage) -> None:
        if self.done:
            return
        self.done = True
        if self.renewer is not None:
            self.renewer.cancel()
        caller = self.ctx.caller
        assert caller is not None
        if self.backend is not None:  # the backend was reached: the call counts, tokens or not
            self.backend.in_flight -= 1
            self.ctx.prompt_tokens = usage.prompt_tokens
            self.ctx.completion_tokens = usage.completion_tokens
            self.runtime.ledger.add(
                caller.tenant.id, caller.key.id, usage.prompt_tokens, usage.completion_tokens
            )
        try:
            await self.runtime.limits.settle(
                self.ticket, usage.prompt_tokens + usage.completion_tokens
            )
        except LimitsUnavailable:
            log.warning("settlement postponed to lease expiry: the limit store is unavailable")
        if self.ctx.streamed:  # the dispatcher returned long ago; the stream's row is due now
            self.runtime.metrics.streams_in_flight -= 1
            self.runtime.trail.finish(self.ctx)

    def keep_lease(self) -> None:
        """Renew a long stream's concurrency lease so it is not reclaimed while it lives."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(LEASE_TTL_S / 3)
                with contextlib.suppress(LimitsUnavailable):
                    await self.runtime.limits.renew(self.ticket)

        self.renewer = asyncio.create_task(renew())


async def _forward(
    runtime: Runtime,
    ctx: RequestContext,
    request: Request,
    body: dict[str, Any],
    endpoint: Endpoint,
    model: str,
    stream: bool,
    settle: Settlement,
    prompt_estimate: int,
) -> Response:
    forward_usage = False
    if stream and endpoint.surface == "openai":
        # Usage is counted on every stream, asked for or not; the client only sees it if it asked.
        given = body.get("stream_options")
        options: dict[str, Any] = given if isinstance(given, dict) else {}
        forward_usage = bool(options.get("include_usage"))
        body["stream_options"] = {**options, "include_usage": True}
    candidates = runtime.discovery.backends_with(model)  # step 10
    if not candidates:
        raise no_backend()
    backend, upstream = await open_upstream(  # step 11
        runtime.http, candidates, "POST", endpoint.upstream_path, json.dumps(body).encode()
    )
    ctx.backend = backend.backend.name
    settle.backend = backend
    if upstream.status_code != 200:
        await _refuse_upstream_status(upstream, endpoint.surface, settle, model)
    if not stream:
        return await _whole_answer(upstream, endpoint, settle, prompt_estimate)
    ctx.streamed = True
    runtime.metrics.streams_in_flight += 1
    settle.keep_lease()
    meter: NdjsonMeter | SseMeter
    max_events = runtime.caps.max_completion_tokens * 2 + 64
    if endpoint.surface == "ollama":
        meter = NdjsonMeter(max_lines=max_events)
    else:
        meter = SseMeter(forward_usage=forward_usage, max_events=max_events)
    content_type = upstream.headers.get("content-type", "application/x-ndjson").encode()
    receive = request.content.receive  # type: ignore[union-attr]  # ASGIContent: the live channel
    # BlackSheep wants an async generator *function*; partial keeps the relay a single layer.
    provider = functools.partial(relay, ctx, upstream, meter, receive, prompt_estimate, settle)
    return Response(200, list(_STREAM_HEADERS), StreamedContent(content_type, provider))


async def _whole_answer(
    upstream: httpx.Response, endpoint: Endpoint, settle: Settlement, prompt_estimate: int
) -> Response:
    usage = Usage(prompt_tokens=prompt_estimate)
    try:
        raw = await read_limited(upstream)
        if settle.ctx.transcript is not None:
            settle.ctx.transcript.extend(raw)
        answer = _json_object(raw)
        counted = native_usage(answer) if endpoint.surface == "ollama" else openai_usage(answer)
        if counted is not None:
            usage = counted
    finally:
        await upstream.aclose()
        await settle(usage)
    content_type = upstream.headers.get("content-type", "application/json").encode()
    return Response(200, None, Content(content_type, raw))


async def _refuse_upstream_status(
    upstream: httpx.Response, surface: Surface, settle: Any, model: str
) -> None:
    """Turn a backend's non-200 answer into our error; 5xx details never reach the client."""
    try:
        raw = await read_limited(upstream, limit=64 * 1024)
    except GatewayError:
        raw = b""
    finally:
        await upstream.aclose()
        await settle(Usage())
    status = upstream.status_code
    if status == 404:
        raise model_not_found(model)
    if 400 <= status < 500:
        raise GatewayError(status, "backend_rejected", _upstream_message(raw, surface)[:500])
    raise GatewayError(502, "backend_error", "the backend failed to answer")


def _upstream_message(raw: bytes, surface: Surface) -> str:
    answer = _json_object(raw)
    error = answer.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) and error else "the backend rejected the request"


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def proxy_plain(
    runtime: Runtime,
    ctx: RequestContext,
    candidates: list[BackendState],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> tuple[int, bytes]:
    """A small non-model call (show, ps, version): status and body, backend failures mapped."""
    if not candidates:
        raise no_backend()
    payload = json.dumps(body).encode() if body is not None else None
    backend, upstream = await open_upstream(runtime.http, candidates, method, path, payload)
    ctx.backend = backend.backend.name
    try:
        raw = await read_limited(upstream, limit=8 * 1024 * 1024)
    finally:
        await upstream.aclose()
        backend.in_flight -= 1
    if upstream.status_code >= 500:
        raise GatewayError(502, "backend_error", "the backend failed to answer")
    return upstream.status_code, raw
