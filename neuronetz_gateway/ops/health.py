"""Liveness (`/healthz`) and readiness (`/readyz`) probes."""

from __future__ import annotations

from blacksheep import Response

from neuronetz_gateway.db.engine import DatabaseUnavailable
from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.edge.responses import json_response


async def healthz(call: Call) -> Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok"})


async def readyz(call: Call) -> Response:
    """200 only when every dependency is usable; 503 naming the failing parts otherwise."""
    runtime = call.runtime
    checks: dict[str, str] = {}
    try:
        await runtime.database.ping()
        checks["database"] = "ok"
    except DatabaseUnavailable as exc:
        checks["database"] = f"unavailable: {exc}"
    if runtime.redis is not None:
        try:
            await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    audit = runtime.audit
    checks["audit"] = (
        f"deny mode: {audit.depth} rows waiting for the writer" if audit.denying else "ok"
    )
    serving = [s for s in runtime.discovery.states if s.healthy and s.models]
    checks["backends"] = (
        f"ok ({len(serving)} of {len(runtime.discovery.states)} serving models)"
        if serving
        else "unavailable: no backend answers with a non-empty model list"
    )
    ready = all(value.startswith("ok") for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return json_response(body, status=200 if ready else 503)
