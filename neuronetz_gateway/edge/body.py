"""Step 4: the body cap (413, Content-Length and chunked alike) and JSON validation (400)."""

from __future__ import annotations

import json
from typing import Any

from blacksheep import Request
from blacksheep.exceptions import MessageAborted

from neuronetz_gateway.errors import GatewayError


def too_large(cap: int) -> GatewayError:
    return GatewayError(413, "request_too_large", f"request body exceeds {cap} bytes")


async def read_body(request: Request, cap: int) -> bytes:
    """The whole body, refusing more than `cap` bytes before reading them all."""
    declared = request.get_first_header(b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise GatewayError(400, "bad_request", "invalid Content-Length header") from None
        if length > cap:
            raise too_large(cap)
    received = bytearray()
    try:
        # BlackSheep's stub types stream() as a coroutine; it is an async generator.
        async for chunk in request.stream():  # type: ignore[attr-defined]
            received.extend(chunk)
            if len(received) > cap:
                raise too_large(cap)
    except MessageAborted:
        raise GatewayError(
            400, "client_disconnected", "the client went away while sending"
        ) from None
    return bytes(received)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object, with a message that says exactly what is wrong."""
    if not body.strip():
        raise GatewayError(400, "bad_request", "request body is empty; a JSON object is required")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GatewayError(
            400, "bad_request", f"request body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GatewayError(
            400, "bad_request", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise GatewayError(
            400, "bad_request", f"request body must be a JSON object, not {type(value).__name__}"
        )
    return value
