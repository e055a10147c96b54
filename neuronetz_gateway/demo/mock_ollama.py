"""A faithful mock of Ollama's HTTP API (docs/api.md and docs/openai.md), for the demo and tests.

Same paths, field names, NDJSON and SSE framing as Ollama; deterministic output: a model's natural
answer is `reply_tokens` (default 12) words from a fixed list, one word per streamed chunk, cut
short by `num_predict` / `max_tokens` like a real model's; the prompt counts one token per
whitespace-separated word. It is the only fake in the test suite.

Test controls live under `/_mock/` (never an Ollama path, so the gateway never proxies them):
`GET /_mock/requests` (everything received, in order), `GET /_mock/state` (streams completed,
cancelled, active), `POST /_mock/fault` (`{"mode": "error", "status": 500}`, `{"mode": "drop",
"after": 3}`, `{"mode": "stall", "after": 2}`, `{"mode": "huge_line"}`, `{"mode": "endless"}`
(native streams ignore num_predict and never end), `{"mode": "none"}`),
`POST /_mock/config` (`{"token_delay_s": 0.01, "reply_tokens": 500, "models": [...]}`),
`POST /_mock/reset`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

VERSION = "0.12.6"
DEFAULT_MODELS = ("llama3.2:latest", "qwen3:8b", "nomic-embed-text:latest", "gpt-oss:120b-cloud")
WORDS = (
    "The",
    "gateway",
    "keeps",
    "every",
    "model",
    "behind",
    "one",
    "locked",
    "door",
    "and",
    "counts",
    "each",
    "token",
    "it",
    "lets",
    "through",
)
DEFAULT_REPLY_TOKENS = 12
EMBEDDING_DIMENSIONS = 8


@dataclass
class MockState:
    """What the mock was asked to do and what it saw."""

    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    token_delay_s: float = 0.0
    reply_tokens: int = DEFAULT_REPLY_TOKENS
    fault: dict[str, Any] = field(default_factory=lambda: {"mode": "none"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0
    cancelled: int = 0
    active: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _model_entry(name: str) -> dict[str, Any]:
    family = name.split(":")[0].split("/")[-1].split("-")[0]
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-10-01T12:00:00.000000000Z",
        "size": 2019393189,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }


def _prompt_tokens(body: dict[str, Any]) -> int:
    texts: list[str] = []
    for message in body.get("messages") or []:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            texts.append(message["content"])
    for key in ("prompt", "system", "suffix"):
        if isinstance(body.get(key), str):
            texts.append(body[key])
    return max(1, sum(len(t.split()) for t in texts))


def _reply_tokens(body: dict[str, Any], openai: bool, natural: int) -> int:
    """The answer's length: the model's natural one, cut short by the request's limit."""
    limits: list[object] = (
        [body.get("max_completion_tokens"), body.get("max_tokens")]
        if openai
        else [(body.get("options") or {}).get("num_predict")]
    )
    for value in limits:
        if isinstance(value, int) and value > 0:
            return min(value, natural)
    return natural


def _word(index: int) -> str:
    return WORDS[index % len(WORDS)] + " "


def _embedding(text: str) -> list[float]:
    seed = sum(text.encode()) or 1
    return [round(((seed * (i + 7)) % 1000) / 1000 - 0.5, 6) for i in range(EMBEDDING_DIMENSIONS)]


class MockOllama:
    """The ASGI application."""

    def __init__(self, state: MockState | None = None) -> None:
        self.state = state or MockState()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body_bytes = await _read_body(receive)
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not path.startswith("/_mock/"):
            self.state.requests.append(
                {
                    "method": method,
                    "path": path,
                    "headers": headers,
                    "body": body_bytes.decode("utf-8", "replace"),
                }
            )
        try:
            body = json.loads(body_bytes) if body_bytes else {}
        except ValueError:
            await _json(send, 400, {"error": "invalid character in request body"})
            return
        if not isinstance(body, dict):
            body = {}
        await self._route(method, path, body, headers, scope, receive, send)

    async def _route(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        state = self.state
        if path.startswith("/_mock/"):
            await self._control(method, path, body, send)
            return
        fault = state.fault
        if fault.get("mode") == "error" and path != "/api/tags":
            await _json(
                send, int(fault.get("status", 500)), {"error": fault.get("message", "mock failure")}
            )
            return
        if path in ("/", "") and method in ("GET", "HEAD"):
            await _raw(send, 200, b"Ollama is running", b"text/plain; charset=utf-8")
        elif path == "/api/version":
            await _json(send, 200, {"version": VERSION})
        elif path == "/api/tags" and method == "GET":
            await _json(send, 200, {"models": [_model_entry(m) for m in state.models]})
        elif path == "/api/ps" and method == "GET":
            await _json(
                send,
                200,
                {
                    "models": [
                        {
                            **_model_entry(m),
                            "expires_at": "2026-11-23T12:00:00Z",
                            "size_vram": 2019393189,
                            "context_length": 4096,
                        }
                        for m in state.models[:1]
                    ]
                },
            )
        elif path == "/api/show" and method == "POST":
            await self._show(body, send)
        elif path in ("/api/chat", "/api/generate") and method == "POST":
            await self._native_generate(path, body, scope, receive, send)
        elif path == "/api/embed" and method == "POST":
            await self._embed(body, send)
        elif path == "/api/embeddings" and method == "POST":
            if not self._known(body.get("model")):
                await _json(send, 404, {"error": f"model '{body.get('model')}' not found"})
                return
            await _json(send, 200, {"embedding": _embedding(str(body.get("prompt", "")))})
        elif path in ("/v1/chat/completions", "/v1/completions") and method == "POST":
            await self._openai_generate(path, body, receive, send)
        elif path == "/v1/embeddings" and method == "POST":
            await self._openai_embed(body, send)
        elif path == "/v1/models" and method == "GET":
            await _json(
                send, 200, {"object": "list", "data": [_openai_model(m) for m in state.models]}
            )
        elif path.startswith("/v1/models/") and method == "GET":
            name = path.removeprefix("/v1/models/")
            if name in state.models:
                await _json(send, 200, _openai_model(name))
            else:
                await _openai_not_found(send, f"model '{name}' not found")
        elif path.startswith(
            ("/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs")
        ):
            # Real Ollama would mutate its model store here; the mock just records the attempt.
            await _json(send, 200, {"status": "success"})
        else:
            await _raw(send, 404, b"404 page not found", b"text/plain")

    def _known(self, model: object) -> bool:
        if not isinstance(model, str):
            return False
        name = model if ":" in model else f"{model}:latest"
        return name in self.state.models

    async def _control(self, method: str, path: str, body: dict[str, Any], send: Send) -> None:
        state = self.state
        if path == "/_mock/requests":
            await _json(send, 200, state.requests)
        elif path == "/_mock/state":
            await _json(
                send,
                200,
                {
                    "completed": state.completed,
                    "cancelled": state.cancelled,
                    "active": state.active,
                    "fault": state.fault,
                },
            )
        elif path == "/_mock/fault":
            state.fault = body or {"mode": "none"}
            await _json(send, 200, state.fault)
        elif path == "/_mock/config":
            if "token_delay_s" in body:
                state.token_delay_s = float(body["token_delay_s"])
            if "reply_tokens" in body:
                state.reply_tokens = int(body["reply_tokens"])
            if "models" in body:
                state.models = list(body["models"])
            await _json(
                send,
                200,
                {
                    "token_delay_s": state.token_delay_s,
                    "reply_tokens": state.reply_tokens,
                    "models": state.models,
                },
            )
        elif path == "/_mock/reset":
            self.state = MockState()
            await _json(send, 200, {"status": "reset"})
        else:
            await _raw(send, 404, b"404 page not found", b"text/plain")

    async def _show(self, body: dict[str, Any], send: Send) -> None:
        name = body.get("model") or body.get("name")
        if not self._known(name):
            await _json(send, 404, {"error": f"model '{name}' not found"})
            return
        entry = _model_entry(str(name))
        await _json(
            send,
            200,
            {
                "modelfile": f"FROM {name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": entry["details"],
                "model_info": {
                    "general.architecture": entry["details"]["family"],
                    "general.parameter_count": 3212749888,
                },
                "capabilities": ["completion"],
                "modified_at": entry["modified_at"],
            },
        )

    async def _native_generate(
        self, path: str, body: dict[str, Any], scope: Scope, receive: Receive, send: Send
    ) -> None:
        model = body.get("model")
        if not self._known(model):
            await _json(send, 404, {"error": f"model '{model}' not found, try pulling it first"})
            return
        chat = path == "/api/chat"
        prompt_tokens = _prompt_tokens(body)
        reply_tokens = _reply_tokens(body, openai=False, natural=self.state.reply_tokens)
        started = time.monotonic_ns()

        def piece(text: str) -> dict[str, Any]:
            base: dict[str, Any] = {"model": model, "created_at": _now()}
            if chat:
                base["message"] = {"role": "assistant", "content": text}
            else:
                base["response"] = text
            base["done"] = False
            return base

        def final(text: str) -> dict[str, Any]:
            elapsed = time.monotonic_ns() - started
            done = {
                **piece(text),
                "done": True,
                "done_reason": "length" if reply_tokens < self.state.reply_tokens else "stop",
                "total_duration": elapsed + 1000,
                "load_duration": 1000,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": 500,
                "eval_count": reply_tokens,
                "eval_duration": max(elapsed, 1),
            }
            if not chat:
                done["context"] = list(range(1, prompt_tokens + reply_tokens + 1))[:64]
            return done

        if body.get("stream", True) is False:
            await asyncio.sleep(self.state.token_delay_s * reply_tokens)
            text = "".join(_word(i) for i in range(reply_tokens))
            await _json(send, 200, final(text))
            return
        count = 10**9 if self.state.fault.get("mode") == "endless" else reply_tokens
        lines = (json.dumps(piece(_word(i))).encode() + b"\n" for i in range(count))
        await self._stream(
            send, receive, b"application/x-ndjson", lines, json.dumps(final("")).encode() + b"\n"
        )

    async def _stream(
        self, send: Send, receive: Receive, content_type: bytes, chunks: Any, tail: bytes
    ) -> None:
        """Send chunks one by one with the configured delay and faults; notice a client leaving."""
        state = self.state
        state.active += 1
        disconnected = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        fault = state.fault
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", content_type)],
                }
            )
            for index, chunk in enumerate(chunks):
                if disconnected.is_set():
                    state.cancelled += 1
                    return
                if fault.get("mode") in ("drop", "stall") and index == int(fault.get("after", 1)):
                    if fault["mode"] == "stall":
                        await disconnected.wait()
                        state.cancelled += 1
                        return
                    raise ConnectionAbortedError(
                        "mock drops the stream"
                    )  # uvicorn closes the socket
                if fault.get("mode") == "huge_line" and index == 1:
                    chunk = b'{"junk":"' + b"x" * (4 * 1024 * 1024) + b'"}\n'
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if index % 16 == 15:
                    await asyncio.sleep(
                        0
                    )  # sends to a gone client do not yield; let the watcher run
                if state.token_delay_s:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(disconnected.wait(), state.token_delay_s)
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            state.completed += 1
        finally:
            state.active -= 1
            watcher.cancel()

    async def _embed(self, body: dict[str, Any], send: Send) -> None:
        model = body.get("model")
        if not self._known(model):
            await _json(send, 404, {"error": f"model '{model}' not found"})
            return
        inputs = body.get("input", "")
        items = inputs if isinstance(inputs, list) else [inputs]
        await _json(
            send,
            200,
            {
                "model": model,
                "embeddings": [_embedding(str(item)) for item in items],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": sum(max(1, len(str(item).split())) for item in items),
            },
        )

    async def _openai_generate(
        self, path: str, body: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        model = body.get("model")
        if not self._known(model):
            await _openai_not_found(send, f'model "{model}" not found, try pulling it first')
            return
        chat = path == "/v1/chat/completions"
        prompt_tokens = _prompt_tokens(body)
        reply_tokens = _reply_tokens(body, openai=True, natural=self.state.reply_tokens)
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{int(time.time() * 1000) % 1000}"
        created = int(time.time())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": reply_tokens,
            "total_tokens": prompt_tokens + reply_tokens,
        }
        base = {
            "id": ident,
            "object": "chat.completion" if chat else "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
        }
        if not body.get("stream"):
            await asyncio.sleep(self.state.token_delay_s * reply_tokens)
            text = "".join(_word(i) for i in range(reply_tokens))
            choice: dict[str, Any] = (
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
                if chat
                else {"text": text, "index": 0, "finish_reason": "stop"}
            )
            await _json(send, 200, {**base, "choices": [choice], "usage": usage})
            return
        chunk_object = "chat.completion.chunk" if chat else "text_completion"

        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        def piece(index: int) -> bytes:
            text = _word(index)
            choice = (
                {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}
                if chat
                else {"text": text, "index": 0, "finish_reason": None}
            )
            return event({**base, "object": chunk_object, "choices": [choice]})

        last_choice = (
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop"}
            if chat
            else {"text": "", "index": 0, "finish_reason": "stop"}
        )
        tail = event({**base, "object": chunk_object, "choices": [last_choice]})
        if (body.get("stream_options") or {}).get("include_usage"):
            tail += event({**base, "object": chunk_object, "choices": [], "usage": usage})
        tail += b"data: [DONE]\n\n"
        await self._stream(
            send, receive, b"text/event-stream", (piece(i) for i in range(reply_tokens)), tail
        )

    async def _openai_embed(self, body: dict[str, Any], send: Send) -> None:
        model = body.get("model")
        if not self._known(model):
            await _openai_not_found(send, f'model "{model}" not found')
            return
        inputs = body.get("input", "")
        items = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(max(1, len(str(item).split())) for item in items)
        await _json(
            send,
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "embedding": _embedding(str(item)), "index": i}
                    for i, item in enumerate(items)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def _openai_model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1759320000, "owned_by": "library"}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _raw(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _openai_not_found(send: Send, message: str) -> None:
    await _json(
        send, 404, {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
    )


async def _json(send: Send, status: int, payload: object) -> None:
    await _raw(send, status, json.dumps(payload).encode(), b"application/json; charset=utf-8")


def serve(host: str = "127.0.0.1", port: int = 11434, token_delay_s: float = 0.0) -> None:
    """Run the mock with uvicorn until interrupted."""
    import uvicorn

    app = MockOllama(MockState(token_delay_s=token_delay_s))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
