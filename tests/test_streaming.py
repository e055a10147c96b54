"""Steps 10-12: failover, streamed relay, disconnects, broken and oversized upstream streams."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
from conftest import FAST_ARGON2, MockOllama, Stack, make_stack, start_mock

from neuronetz_gateway.db.usage import read_usage

PROMPT = [{"role": "user", "content": "tell me about doors"}]


def ndjson(stack: Stack, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    """Every line of a native stream, parsed."""
    with httpx.stream("POST", f"{stack.url}{path}", headers=stack.headers, json=body) as response:
        return [json.loads(line) for line in response.iter_lines() if line]


def _usage(stack: Stack) -> tuple[int, int, int]:
    """(requests, prompt, completion) for the stack's key today, once the ledger has flushed."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    async def read() -> tuple[int, int, int]:
        from neuronetz_gateway.db.keys import get_key

        key = await get_key(stack.key[:11])
        assert key is not None
        return await read_usage("key", key.id, "day", today)

    return stack.admin(read)


def _wait_usage(stack: Stack, requests: int, timeout: float = 5) -> tuple[int, int, int]:
    deadline = time.monotonic() + timeout
    while (seen := _usage(stack))[0] < requests:
        assert time.monotonic() < deadline, f"usage not settled: {seen}"
        time.sleep(0.1)
    return seen


def test_native_streams_by_default_line_by_line_and_settles_exact_counts(stack: Stack) -> None:
    with httpx.stream(
        "POST",
        f"{stack.url}/api/chat",
        headers=stack.headers,
        json={"model": "llama3.2", "messages": PROMPT, "options": {"num_predict": 5}},
    ) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [line["done"] for line in lines] == [False] * 5 + [True]
    assert lines[-1]["eval_count"] == 5 and lines[-1]["prompt_eval_count"] == 4
    assert _wait_usage(stack, 1) == (1, 4, 5)


def test_openai_stream_counts_usage_but_forwards_it_only_when_asked(stack: Stack) -> None:
    body = {"model": "llama3.2", "messages": PROMPT, "stream": True, "max_tokens": 3}

    def events(extra: dict[str, object]) -> list[str]:
        with httpx.stream(
            "POST",
            f"{stack.url}/v1/chat/completions",
            headers=stack.headers,
            json={**body, **extra},
        ) as response:
            return [line for line in response.iter_lines() if line]

    plain = events({})
    assert plain[-1] == "data: [DONE]" and not any('"usage"' in e for e in plain)
    asked = events({"stream_options": {"include_usage": True}})
    assert json.loads(asked[-2].removeprefix("data: "))["usage"]["completion_tokens"] == 3
    assert all(
        b["stream_options"]["include_usage"] for b in stack.mock.bodies("/v1/chat/completions")
    )
    assert _wait_usage(stack, 2) == (2, 8, 6)


def test_client_disconnect_cancels_the_upstream_and_counts_partial_tokens(stack: Stack) -> None:
    stack.mock.config(token_delay_s=0.05, reply_tokens=1000)
    with httpx.stream(
        "POST",
        f"{stack.url}/api/generate",
        headers=stack.headers,
        json={"model": "llama3.2", "prompt": "one two three", "options": {"num_predict": 200}},
    ) as response:
        received = 0
        for line in response.iter_lines():
            received += bool(line)
            if received == 5:
                break  # leave mid-stream; closing the response drops the connection
    deadline = time.monotonic() + 2
    while stack.mock.state()["cancelled"] < 1:
        assert time.monotonic() < deadline, "the backend kept generating after the client left"
        time.sleep(0.02)
    requests, prompt, completion = _wait_usage(stack, 1)
    assert requests == 1 and 5 <= completion < 30 and prompt > 0


def test_backend_dying_mid_stream_ends_with_an_error_line_and_settles(stack: Stack) -> None:
    stack.mock.fault(mode="drop", after=3)
    lines = ndjson(stack, "/api/chat", {"model": "llama3.2", "messages": PROMPT})
    assert len(lines) == 4 and lines[-1] == {
        "error": "the backend stopped in the middle of the answer"
    }
    assert _wait_usage(stack, 1)[2] == 3


def test_backend_dying_mid_sse_stream_ends_with_an_error_event(sqlite_stack: Stack) -> None:
    sqlite_stack.mock.fault(mode="drop", after=2)
    with httpx.stream(
        "POST",
        f"{sqlite_stack.url}/v1/chat/completions",
        headers=sqlite_stack.headers,
        json={"model": "llama3.2", "messages": PROMPT, "stream": True},
    ) as response:
        events = [line for line in response.iter_lines() if line]
    assert json.loads(events[-1].removeprefix("data: "))["error"]["code"] == "backend_error"


def test_oversized_upstream_lines_are_cut(sqlite_stack: Stack) -> None:
    sqlite_stack.mock.fault(mode="huge_line")
    with httpx.stream(
        "POST",
        f"{sqlite_stack.url}/api/chat",
        headers=sqlite_stack.headers,
        json={"model": "llama3.2", "messages": PROMPT},
    ) as response:
        body = response.read()
    assert len(body) < 2 * 1024 * 1024
    assert json.loads(body.splitlines()[-1]) == {"error": "the backend sent an oversized line"}


def test_failover_to_another_backend_before_the_first_byte(
    mock: MockOllama, tmp_path: object
) -> None:
    doomed, doomed_url = start_mock()
    env = {
        "GATEWAY_STATE_DIR": f"{tmp_path}/state",
        **FAST_ARGON2,
        "MODEL_DISCOVERY_REFRESH_S": "60",
        "OLLAMA_BACKENDS": f"first={doomed_url},second={mock.url}",
    }
    stack = make_stack(env, mock, str(tmp_path))
    try:
        doomed.terminate()  # discovery saw it healthy; now it refuses connections
        doomed.wait(timeout=10)
        for _ in range(3):
            chat = httpx.post(
                f"{stack.url}/api/chat",
                headers=stack.headers,
                json={"model": "llama3.2", "messages": PROMPT, "stream": False},
            )
            assert chat.status_code == 200 and chat.json()["done"] is True
        assert len(stack.mock.bodies("/api/chat")) == 3
    finally:
        stack.process.close()


def test_backend_errors_do_not_leak_internals(sqlite_stack: Stack) -> None:
    sqlite_stack.mock.fault(
        mode="error", status=500, message="CUDA error at /opt/ollama/llama.cpp:123"
    )
    response = httpx.post(
        f"{sqlite_stack.url}/v1/chat/completions",
        headers=sqlite_stack.headers,
        json={"model": "llama3.2", "messages": PROMPT},
    )
    assert response.status_code == 502
    assert "CUDA" not in response.text and "127.0.0.1" not in response.text
    sqlite_stack.mock.fault(mode="error", status=400, message="invalid option 'foo'")
    rejected = httpx.post(
        f"{sqlite_stack.url}/api/chat",
        headers=sqlite_stack.headers,
        json={"model": "llama3.2", "messages": PROMPT, "stream": False},
    )
    assert rejected.status_code == 400 and rejected.json() == {"error": "invalid option 'foo'"}


def test_endless_upstream_streams_are_cut_and_accounted(mock: MockOllama, tmp_path: object) -> None:
    env = {"GATEWAY_STATE_DIR": f"{tmp_path}/state", "MAX_NUM_PREDICT": "10", **FAST_ARGON2}
    stack = make_stack(env, mock, str(tmp_path))
    try:
        mock.fault(mode="endless")
        lines = ndjson(stack, "/api/chat", {"model": "llama3.2", "messages": PROMPT})
        assert lines[-1] == {"error": "the backend's stream exceeded its token limit"}
        assert 10 < len(lines) < 200
        # Charged for what the backend produced: what was relayed, plus the line that broke the cap.
        assert len(lines) - 1 <= _wait_usage(stack, 1)[2] <= len(lines)
        deadline = time.monotonic() + 2
        while mock.state()["cancelled"] < 1:
            assert time.monotonic() < deadline, "the endless upstream was not closed"
            time.sleep(0.02)
    finally:
        stack.process.close()
