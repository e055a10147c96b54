"""`GET /metrics`: Prometheus text, only when GATEWAY_METRICS is on and for allowed client IPs."""

from __future__ import annotations

import ipaddress

from blacksheep import Content, Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.errors import GatewayError
from neuronetz_gateway.metrics import gauge


async def metrics(call: Call) -> Response:
    """Counters, histograms and the gauges read now (audit depth, deny mode, backends)."""
    runtime = call.runtime
    settings = runtime.settings
    if not settings.metrics or not _allowed(call.ctx.client_ip, settings.metrics_allow):
        raise GatewayError(404, "not_found", "404 page not found")  # as if it did not exist
    backends: dict[tuple[str, ...], float] = {
        (s.backend.name,): 1.0 if s.healthy else 0.0 for s in runtime.discovery.states
    }
    text = runtime.metrics.render(
        [
            gauge(
                "neuronetz_audit_buffer_depth",
                "Audit rows waiting to be written.",
                {(): float(runtime.audit.depth)},
            ),
            gauge(
                "neuronetz_audit_deny_mode",
                "1 while new requests are refused for a full audit buffer.",
                {(): 1.0 if runtime.audit.denying else 0.0},
            ),
            gauge(
                "neuronetz_backend_up",
                "1 when a backend answers its model list.",
                backends,
                ("backend",),
            ),
        ]
    )
    return Response(200, None, Content(b"text/plain; version=0.0.4; charset=utf-8", text.encode()))


def _allowed(ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)
