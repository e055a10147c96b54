"""Liveness (`/healthz`) and readiness (`/readyz`) probes."""

from __future__ import annotations

from blacksheep import Request, Response
from blacksheep.server.responses import json as json_response

from neuronetz_gateway.db.engine import DatabaseUnavailable
from neuronetz_gateway.runtime import Runtime


async def healthz(request: Request, runtime: Runtime) -> Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok"})


async def readyz(request: Request, runtime: Runtime) -> Response:
    """200 only when every dependency is usable; 503 naming the failing parts otherwise."""
    checks: dict[str, str] = {}
    try:
        await runtime.database.ping()
        checks["database"] = "ok"
    except DatabaseUnavailable as exc:
        checks["database"] = f"unavailable: {exc}"
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return json_response(body, status=200 if ready else 503)
