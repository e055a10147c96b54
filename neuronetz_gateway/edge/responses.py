"""Building responses: JSON bodies and GatewayErrors in the caller's surface shape."""

from __future__ import annotations

import json

from blacksheep import Content, Response

from neuronetz_gateway.errors import GatewayError

JSON = b"application/json; charset=utf-8"


def json_response(payload: object, status: int = 200) -> Response:
    """A JSON response."""
    return Response(status, None, Content(JSON, json.dumps(payload).encode()))


def raw_json_response(body: bytes, status: int = 200) -> Response:
    """A JSON response whose body is already encoded (relayed from a backend)."""
    return Response(status, None, Content(JSON, body))


def error_response(error: GatewayError, openai_shape: bool) -> Response:
    """Render a GatewayError in the OpenAI shape (`/v1/*`) or the Ollama shape (everything else)."""
    headers = list(error.headers or [])
    if error.retry_after:
        headers.append((b"retry-after", str(error.retry_after).encode()))
    return Response(error.status, headers, Content(JSON, error.body(openai_shape)))
