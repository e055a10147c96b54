"""The OpenAI-compatible surface, proxied to Ollama's own /v1 (SPEC §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blacksheep import Response

from neuronetz_gateway.edge.context import Call
from neuronetz_gateway.edge.responses import json_response
from neuronetz_gateway.proxy.pipeline import Endpoint, allowed_models, call_model, model_not_found

CHAT_COMPLETIONS = Endpoint("/v1/chat/completions", "openai", generates=True)
COMPLETIONS = Endpoint("/v1/completions", "openai", generates=True)
EMBEDDINGS = Endpoint("/v1/embeddings", "openai", generates=False)


async def chat_completions(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, CHAT_COMPLETIONS)


async def completions(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, COMPLETIONS)


async def embeddings(call: Call) -> Response:
    return await call_model(call.runtime, call.ctx, call.request, call.body, EMBEDDINGS)


def _model_object(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    try:
        created = int(datetime.fromisoformat(str(entry.get("modified_at", ""))[:26]).timestamp())
    except ValueError:
        created = 0
    owner = name.split("/")[0] if "/" in name else "library"
    return {"id": name, "object": "model", "created": created, "owned_by": owner}


async def models(call: Call) -> Response:
    """The caller's models, from the discovery cache."""
    allowed = allowed_models(call.runtime, call.ctx)
    data = [_model_object(name, allowed[name]) for name in sorted(allowed)]
    return json_response({"object": "list", "data": data})


async def model(call: Call) -> Response:
    """One of the caller's models; 404 for anything else."""
    name = call.param or ""
    allowed = allowed_models(call.runtime, call.ctx)
    key = name if ":" in name else f"{name}:latest"
    if key not in allowed:
        raise model_not_found(name)
    return json_response(_model_object(key, allowed[key]))
