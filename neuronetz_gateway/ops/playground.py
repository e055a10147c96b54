"""`/playground`: the demo's chat page, served only when GATEWAY_PLAYGROUND is on."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from blacksheep import Content, Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.errors import GatewayError

# The page talks only to this origin; nothing else may load or run.
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"connect-src 'self'",
    ),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


@cache
def _page() -> bytes:
    return files("neuronetz_gateway.demo").joinpath("playground.html").read_bytes()


async def playground(call: Call) -> Response:
    """The static page; 404 like any unknown path unless the setting enables it."""
    if not call.runtime.settings.playground:
        raise GatewayError(404, "not_found", "404 page not found")
    return Response(200, list(_HEADERS), Content(b"text/html; charset=utf-8", _page()))
