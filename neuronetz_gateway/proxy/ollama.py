"""The native Ollama surface: translate each route to the shared pipeline (SPEC §4)."""

from __future__ import annotations

import json
from typing import Any

from blacksheep import Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.edge.responses import json_response, raw_json_response
from neuronetz_gateway.proxy.pipeline import (
    Endpoint,
    allowed_models,
    authorize_model,
    call_model,
    no_backend,
    proxy_plain,
)

CHAT = Endpoint("/api/chat", "ollama", generates=True)
GENERATE = Endpoint("/api/generate", "ollama", generates=True)
EMBED = Endpoint("/api/embed", "ollama", generates=False)
EMBEDDINGS = Endpoint("/api/embeddings", "ollama", generates=False)


async def chat(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, CHAT)


async def generate(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, GENERATE)


async def embed(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, EMBED)


async def embeddings(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, EMBEDDINGS)


async def tags(call: Call) -> Response:
    """The caller's models only, from the discovery cache (no backend round trip)."""
    models = allowed_models(call.runtime, call.ctx)
    return json_response({"models": [models[name] for name in sorted(models)]})


async def ps(call: Call) -> Response:
    """Running models on every healthy backend, filtered to the caller's models."""
    allowed = allowed_models(call.runtime, call.ctx)
    running: dict[str, Any] = {}
    for state in call.runtime.discovery.states:
        if not state.healthy:
            continue
        status, raw = await proxy_plain(call.runtime, call.ctx, [state], "GET", "/api/ps", None)
        entries = json.loads(raw).get("models", []) if status == 200 else []
        for entry in entries:
            name = entry.get("model") or entry.get("name")
            if name in allowed:
                running.setdefault(name, entry)
    return json_response({"models": list(running.values())})


async def show(call: Call) -> Response:
    """Model details, for models the caller may use."""
    name = call.body.get("model") or call.body.get("name")
    model = authorize_model(call.runtime, call.ctx, name)
    candidates = call.runtime.discovery.backends_with(model)
    status, raw = await proxy_plain(
        call.runtime, call.ctx, candidates, "POST", "/api/show", {"model": name}
    )
    return raw_json_response(raw, status)


async def version(call: Call) -> Response:
    """The version of a healthy backend (clients use it to pick features)."""
    healthy = [s for s in call.runtime.discovery.states if s.healthy]
    if not healthy:
        raise no_backend()
    status, raw = await proxy_plain(call.runtime, call.ctx, healthy, "GET", "/api/version", None)
    return raw_json_response(raw, status)
