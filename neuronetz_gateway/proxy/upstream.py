"""The one shared httpx client towards the backends, and the boundary where its errors become ours.

Requests are built from scratch: the backend's own Host (Ollama refuses other hosts when bound to
loopback), JSON content type, our user agent, and nothing of the client's (no Authorization,
cookies, X-Forwarded-*). `trust_env=False` keeps HTTP(S)_PROXY variables from rerouting traffic.
"""

from __future__ import annotations

import httpx

from neuronetz_gateway import __version__
from neuronetz_gateway.backends.discovery import BackendState
from neuronetz_gateway.config import Settings
from neuronetz_gateway.errors import GatewayError

MAX_UPSTREAM_BODY = 32 * 1024 * 1024


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The process-wide upstream client with a pool sized by OLLAMA_MAX_CONNECTIONS."""
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=settings.ollama_max_connections,
            max_keepalive_connections=settings.ollama_max_connections,
            keepalive_expiry=30,
        ),
        timeout=httpx.Timeout(
            connect=settings.ollama_connect_timeout_s,
            read=settings.ollama_read_timeout_s,
            write=30.0,
            pool=settings.ollama_connect_timeout_s,
        ),
        headers={"user-agent": f"neuronetz-gateway/{__version__}"},
        follow_redirects=False,
        trust_env=False,
    )


async def open_upstream(
    client: httpx.AsyncClient,
    candidates: list[BackendState],
    method: str,
    path: str,
    body: bytes | None,
) -> tuple[BackendState, httpx.Response]:
    """Send to the first backend that accepts the connection; fail over only before any byte."""
    last: Exception | None = None
    for state in candidates:
        request = client.build_request(
            method,
            state.backend.url + path,
            content=body,
            headers={"content-type": "application/json"} if body is not None else None,
        )
        state.in_flight += 1
        try:
            return state, await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            state.in_flight -= 1
            if not isinstance(exc, httpx.PoolTimeout):
                state.healthy = False  # skip it until discovery sees it answer again
            last = exc
            continue
        except httpx.HTTPError as exc:
            state.in_flight -= 1
            raise upstream_error(exc) from exc
        except BaseException:
            state.in_flight -= 1
            raise
    raise GatewayError(502, "backend_unavailable", "no backend accepted the connection") from last


async def read_limited(response: httpx.Response, limit: int = MAX_UPSTREAM_BODY) -> bytes:
    """The whole upstream body, refusing answers larger than `limit`."""
    received = bytearray()
    try:
        async for chunk in response.aiter_raw():
            received.extend(chunk)
            if len(received) > limit:
                raise GatewayError(502, "backend_error", "the backend's answer is too large")
    except httpx.HTTPError as exc:
        raise upstream_error(exc) from exc
    return bytes(received)


def upstream_error(exc: httpx.HTTPError) -> GatewayError:
    """Translate an httpx failure; the client never sees addresses or exception text."""
    if isinstance(exc, httpx.TimeoutException):
        return GatewayError(504, "backend_timeout", "the backend did not answer in time")
    return GatewayError(502, "backend_error", "the backend failed to answer")
