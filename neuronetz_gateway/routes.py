"""The whole HTTP surface in one table (SPEC §4). A path not here is 404 and never proxied.

Mutation paths (`/api/pull`, `/api/push`, `/api/create`, `/api/copy`, `/api/delete`,
`/api/blobs/*`) are not routes at all: `edge.paths.is_blocked` answers them 403 before routing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from blacksheep import Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.ops import health, metrics, playground, usage
from neuronetz_gateway.proxy import ollama, openai

Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: methods, handler, and what the edge must do before calling it."""

    methods: frozenset[str]
    handler: Handler
    auth: bool = True
    json_body: bool = False
    model_call: bool = False  # admits itself with a token reservation (the pipeline)


def _get(handler: Handler, auth: bool = True) -> Route:
    return Route(frozenset({"GET", "HEAD"}), handler, auth=auth)


def _post(handler: Handler, model_call: bool = True) -> Route:
    return Route(frozenset({"POST"}), handler, json_body=True, model_call=model_call)


ROUTES: dict[str, Route] = {
    # the gateway's own
    "/healthz": _get(health.healthz, auth=False),
    "/readyz": _get(health.readyz, auth=False),
    "/playground": _get(playground.playground, auth=False),
    "/metrics": _get(metrics.metrics, auth=False),
    # native Ollama
    "/api/chat": _post(ollama.chat),
    "/api/generate": _post(ollama.generate),
    "/api/embed": _post(ollama.embed),
    "/api/embeddings": _post(ollama.embeddings),
    "/api/tags": _get(ollama.tags),
    "/api/show": _post(ollama.show, model_call=False),
    "/api/ps": _get(ollama.ps),
    "/api/version": _get(ollama.version),
    # OpenAI-compatible
    "/v1/chat/completions": _post(openai.chat_completions),
    "/v1/completions": _post(openai.completions),
    "/v1/embeddings": _post(openai.embeddings),
    "/v1/models": _get(openai.models),
    # the gateway's own, for a key
    "/v1/usage": _get(usage.usage),
}
# Routes with one trailing path parameter: prefix -> route.
PARAM_ROUTES: dict[str, Route] = {"/v1/models/": _get(openai.model)}


def match(path: str) -> tuple[Route, str | None] | None:
    """The route for a normalized path (compared case-folded), with its parameter if any."""
    folded = path.lower()
    route = ROUTES.get(folded)
    if route is not None:
        return route, None
    for prefix, param_route in PARAM_ROUTES.items():
        if folded.startswith(prefix) and len(path) > len(prefix):
            return param_route, path[len(prefix) :]
    return None
