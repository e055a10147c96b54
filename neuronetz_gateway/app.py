"""create_app(runtime): the BlackSheep application. One fallback route runs steps 1-5 for every
request and hands the rest to the route's handler (SPEC §3)."""

from __future__ import annotations

import contextlib
import logging

from blacksheep import Application, Request, Response
from blacksheep.server.routing import Router

from neuronetz_gateway.auth.authenticate import Caller
from neuronetz_gateway.edge.body import parse_json_object, read_body
from neuronetz_gateway.edge.client_ip import client_ip
from neuronetz_gateway.edge.context import Call, RequestContext, Surface
from neuronetz_gateway.edge.paths import UndecodablePath, is_blocked, normalize_path
from neuronetz_gateway.edge.request_id import request_id
from neuronetz_gateway.edge.responses import error_response
from neuronetz_gateway.errors import GatewayError
from neuronetz_gateway.limits.admission import admit, auth_gate
from neuronetz_gateway.limits.headers import rate_headers
from neuronetz_gateway.limits.store import LimitsUnavailable
from neuronetz_gateway.routes import match
from neuronetz_gateway.runtime import Runtime

log = logging.getLogger("neuronetz_gateway.app")


def _surface(raw_path: bytes) -> Surface:
    lowered = raw_path.lower()
    if lowered.startswith(b"/v1"):
        return "openai"
    if lowered.startswith(b"/api"):
        return "ollama"
    return "gateway"


def create_app(runtime: Runtime) -> Application:
    """Build the application; every request goes through `dispatch`.

    BlackSheep runs no middleware on unmatched paths and fills a process-wide router from its
    decorators, so the app gets a private Router whose only entry is the fallback.
    """
    app = Application(router=Router(), show_error_details=False)
    # BlackSheep also reads APP_SHOW_ERROR_DETAILS from the environment: tracebacks never leave.
    app.show_error_details = False
    settings = runtime.settings
    id_header = settings.request_id_header.lower().encode()

    async def dispatch(request: Request) -> Response:
        scope = request.scope
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        peer = (scope.get("client") or ("0.0.0.0", 0))[0]
        ctx = RequestContext(
            request_id=request_id(request.get_first_header(id_header)),  # step 1
            client_ip=client_ip(  # step 2
                peer, request.get_first_header(b"x-forwarded-for"), settings.trusted_proxies
            ),
            method=request.method,
            path=raw_path.decode("latin-1")[:512],
            surface=_surface(raw_path),
        )
        try:
            response = await _serve(request, ctx, raw_path)
        except GatewayError as error:
            ctx.error_code = error.code
            response = error_response(error, ctx.openai_shape)
        except Exception:
            log.exception("unexpected error", extra={"request_id": ctx.request_id})
            ctx.error_code = "internal_error"
            internal = GatewayError(500, "internal_error", "internal error")
            response = error_response(internal, ctx.openai_shape)
        ctx.status = response.status
        if not ctx.streamed:  # a stream's row is written when its relay ends
            runtime.trail.finish(ctx)
        response.add_header(id_header, ctx.request_id.encode())
        for name, value in ctx.rate_headers or ():
            response.add_header(name, value)
        return response

    async def _serve(request: Request, ctx: RequestContext, raw_path: bytes) -> Response:
        try:  # step 3
            path = normalize_path(raw_path)
        except UndecodablePath as exc:
            raise GatewayError(400, "bad_request", str(exc)) from None
        ctx.path = path
        if is_blocked(path):
            raise GatewayError(403, "forbidden", "model management is disabled on this gateway")
        found = match(path)
        if found is None:
            raise GatewayError(404, "not_found", "404 page not found")
        route, param = found
        ctx.route = path.lower() if param is None else path.lower()[: -len(param)] + "{model}"
        if route.auth and runtime.audit.denying:  # step 13: nothing is served unaudited
            raise GatewayError(
                503, "audit_unavailable", "the audit log is behind; retry shortly", retry_after=1
            )
        if request.method not in route.methods:
            raise GatewayError(405, "method_not_allowed", f"method {request.method} not allowed")
        body = {}
        if route.json_body:  # step 4
            body = parse_json_object(await read_body(request, settings.max_request_body_bytes))
        if route.auth:
            ctx.caller = await _authenticate(request, ctx)  # step 5
            if not route.model_call:  # steps 7-8 for calls that spend no tokens: requests/minute
                decision = await admit(runtime.limits, settings, ctx.caller.key, ctx.caller.tenant)
                ctx.rate_headers = rate_headers(decision.headroom)
        return await route.handler(Call(runtime, ctx, request, body, param))

    async def _authenticate(request: Request, ctx: RequestContext) -> Caller:
        per_minute = settings.auth_failure_rate_limit_per_ip_per_min

        async def gate() -> None:  # before any database read or Argon2 run
            await auth_gate(runtime.limits, ctx.client_ip, per_minute)

        header = request.get_first_header(b"authorization")
        try:
            return await runtime.authenticator.authenticate(header, gate)
        except GatewayError as error:
            if error.status == 401:
                with contextlib.suppress(LimitsUnavailable):
                    await runtime.limits.auth_failed(ctx.client_ip, per_minute)
            raise

    app.router.fallback = dispatch
    return app
