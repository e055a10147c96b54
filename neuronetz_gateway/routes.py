"""The whole HTTP surface in one table; a path not in it is 404 and never proxied (SPEC §4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from blacksheep import Request, Response

from neuronetz_gateway.ops.health import healthz, readyz
from neuronetz_gateway.runtime import Runtime

Handler = Callable[[Request, Runtime], Awaitable[Response]]

ROUTES: dict[str, dict[str, Handler]] = {
    "/healthz": {"GET": healthz, "HEAD": healthz},
    "/readyz": {"GET": readyz, "HEAD": readyz},
}
