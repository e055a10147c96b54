"""Step 9: options that could hurt other tenants, as the backend receives them (SPEC §7)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from conftest import Stack

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


def _native(stack: Stack, **fields: Any) -> httpx.Response:
    body = {"model": "llama3.2", "prompt": "hi", "stream": False, **fields}
    return httpx.post(f"{stack.url}/api/generate", headers=stack.headers, json=body)


def _received(stack: Stack, path: str = "/api/generate") -> dict[str, Any]:
    return stack.mock.bodies(path)[-1]


@pytest.mark.parametrize(
    ("given", "sent"), [(None, 4096), (-1, 4096), (-2, 4096), (0, 4096), (100, 100), (10**9, 4096)]
)
def test_num_predict_is_clamped_and_set_when_absent_or_unlimited(
    sqlite_stack: Stack, given: int | None, sent: int
) -> None:
    options = {} if given is None else {"num_predict": given}
    assert _native(sqlite_stack, options=options).status_code == 200
    assert _received(sqlite_stack)["options"]["num_predict"] == sent


def test_openai_completion_tokens_are_clamped_and_set(sqlite_stack: Stack) -> None:
    url = f"{sqlite_stack.url}/v1/chat/completions"
    base = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(url, headers=sqlite_stack.headers, json=base)
    httpx.post(
        url,
        headers=sqlite_stack.headers,
        json={**base, "max_tokens": 99999, "max_completion_tokens": 50},
    )
    first, second = sqlite_stack.mock.bodies("/v1/chat/completions")
    assert first["max_tokens"] == 4096
    assert (second["max_tokens"], second["max_completion_tokens"]) == (4096, 50)


def test_context_keep_alive_and_runner_options_are_controlled(sqlite_stack: Stack) -> None:
    options = {
        "num_ctx": 131072,
        "num_gpu": 99,
        "num_thread": 64,
        "use_mmap": False,
        "temperature": 0.2,
    }
    assert _native(sqlite_stack, options=options, keep_alive=0).status_code == 200
    received = _received(sqlite_stack)
    assert received["options"] == {"num_ctx": 8192, "temperature": 0.2, "num_predict": 4096}
    assert "keep_alive" not in received


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"raw": True}, "'raw' is not allowed"),
        ({"_debug_render_only": True}, "'_debug_render_only' is not allowed"),
        ({"images": ["not base64!"]}, "an image in 'images' is not valid base64"),
        ({"images": [base64.b64encode(b"MZ\x90\x00 not an image").decode()]}, "is not a PNG, JPEG"),
        ({"options": {"num_ctx": -5}}, "'options.num_ctx' must be a positive integer"),
    ],
)
def test_dangerous_options_are_refused(
    sqlite_stack: Stack, fields: dict[str, Any], message: str
) -> None:
    response = _native(sqlite_stack, **fields)
    assert response.status_code == 400 and message in response.json()["error"]
    assert "/api/generate" not in sqlite_stack.mock.paths()


def test_well_formed_images_pass(sqlite_stack: Stack) -> None:
    assert _native(sqlite_stack, images=[PNG]).status_code == 200
    chat = httpx.post(
        f"{sqlite_stack.url}/api/chat",
        headers=sqlite_stack.headers,
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": "what is this", "images": ["%%%"]}],
        },
    )
    assert chat.status_code == 400
