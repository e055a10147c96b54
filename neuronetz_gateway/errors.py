"""The gateway's one error tree, rendered in the caller's surface's shape (SPEC §4).

    GatewayError(status, code, message, retry_after)
    ├── 400 bad_request            malformed JSON, wrong types, invalid model name
    ├── 401 invalid_api_key        every bad-key case, identical
    ├── 403 forbidden              blocked mutation paths (pull, push, create, copy, delete, blobs)
    ├── 404 not_found              unknown path; model_not_found for unknown or forbidden models
    ├── 405 method_not_allowed     known path, wrong method
    ├── 413 request_too_large      body above MAX_REQUEST_BODY_BYTES
    ├── 429 rate_limited, tokens_rate_limited, concurrency_limited, budget_exceeded,
    │       auth_throttled         (with Retry-After)
    ├── 502 backend_error          the backend failed or answered garbage
    ├── 503 not_ready, no_backend, audit_unavailable, limits_unavailable, database_unavailable
    └── 504 backend_timeout

On `/v1/*` the body is OpenAI's `{"error": {"message", "type", "code", "param"}}`; everywhere else
it is Ollama's `{"error": "..."}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(slots=True)
class GatewayError(Exception):
    """A refusal or failure with everything needed to answer it."""

    status: int
    code: str
    message: str
    retry_after: int | None = None
    param: str | None = None
    headers: list[tuple[bytes, bytes]] | None = None  # extra response headers (rate limits)

    def body(self, openai_shape: bool) -> bytes:
        """The JSON body in the surface's shape."""
        if openai_shape:
            error_type = _OPENAI_TYPES.get(self.status, "api_error")
            payload: object = {
                "error": {
                    "message": self.message,
                    "type": error_type,
                    "code": self.code,
                    "param": self.param,
                }
            }
        else:
            payload = {"error": self.message}
        return json.dumps(payload, separators=(",", ":")).encode()


def not_found(path_hint: str = "") -> GatewayError:
    """404 for a path the gateway does not serve."""
    return GatewayError(404, "not_found", path_hint or "404 page not found")
