"""The facts one request accumulates on its way through the pipeline (and into its audit row)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from blacksheep import Request

    from neuronetz_gateway.auth.authenticate import Caller
    from neuronetz_gateway.runtime import Runtime

Surface = Literal["ollama", "openai", "gateway"]


@dataclass(slots=True)
class RequestContext:
    """Mutable per-request record; steps fill it in, accounting and audit read it."""

    request_id: str
    client_ip: str
    method: str
    path: str
    surface: Surface
    started: float = field(default_factory=time.monotonic)
    caller: Caller | None = None
    model: str | None = None
    backend: str | None = None
    status: int = 0
    error_code: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_byte_at: float | None = None
    streamed: bool = False
    client_disconnected: bool = False
    rate_headers: list[tuple[bytes, bytes]] | None = None
    route: str | None = None  # the matched route's path (a bounded label set for metrics)
    transcript: bytearray | None = None  # the answer's bytes, kept only for prompt logging
    request_body: dict[str, Any] | None = None  # kept only for prompt logging

    @property
    def openai_shape(self) -> bool:
        return self.surface == "openai"


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: runtime, context, request, JSON body and the path parameter."""

    runtime: Runtime
    ctx: RequestContext
    request: Request
    body: dict[str, Any]
    param: str | None = None
