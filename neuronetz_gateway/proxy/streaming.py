"""Stream relay: upstream bytes to the client chunk by chunk, metered, cut when they misbehave.

Bytes are relayed as they arrive; only line (NDJSON) or event (SSE) boundaries are tracked, and
JSON is parsed only for the final object that carries the token counts. Neither uvicorn nor
BlackSheep cancels a handler when its client leaves, so a watcher waits for the disconnect and
cancels the relay while it waits on the backend; closing the upstream response then makes Ollama
stop generating. Whatever was produced is settled in `finally`, which cancellation cannot skip.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from neuronetz_gateway.edge.context import RequestContext
from neuronetz_gateway.proxy.usage import Usage, is_openai_usage_chunk, native_usage, openai_usage

MAX_LINE_BYTES = 1024 * 1024
MAX_STREAM_BYTES = 64 * 1024 * 1024
MAX_TRANSCRIPT_BYTES = 4 * 1024 * 1024

Receive = Callable[[], Awaitable[dict[str, Any]]]


class StreamCut(Exception):
    """The upstream stream broke a size rule; the message is safe to show the client."""


class Meter(Protocol):
    """Frames one stream format, counts what passed, and renders an error in that format."""

    def feed(self, chunk: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def usage(self, prompt_estimate: int) -> Usage: ...
    def error_chunk(self, message: str) -> bytes: ...


class NdjsonMeter:
    """Native Ollama streams: one JSON object per line, the last one (`done: true`) has counts."""

    def __init__(self, max_lines: int) -> None:
        self._tail = b""
        self._last_line = b""
        self._lines = 0
        self._max_lines = max_lines

    def feed(self, chunk: bytes) -> bytes:
        end = chunk.rfind(b"\n")
        if end == -1:
            self._tail += chunk
        else:
            complete = self._tail + chunk[:end]
            self._tail = chunk[end + 1 :]
            self._lines += complete.count(b"\n") + 1
            self._last_line = complete[complete.rfind(b"\n") + 1 :]
            if self._lines > self._max_lines:
                raise StreamCut("the backend's stream exceeded its token limit")
        if len(self._tail) > MAX_LINE_BYTES:
            raise StreamCut("the backend sent an oversized line")
        return chunk

    def flush(self) -> bytes:
        if self._tail.strip():
            self._lines += 1
            self._last_line, self._tail = self._tail, b""
        return b""

    def usage(self, prompt_estimate: int) -> Usage:
        final = _json_object(self._last_line)
        if final is not None and final.get("done") is True:
            counted = native_usage(final)
            if counted is not None:
                return counted
        return Usage(prompt_tokens=prompt_estimate, completion_tokens=self._lines)

    def error_chunk(self, message: str) -> bytes:
        newline = b"\n" if self._tail else b""
        self._tail = b""
        return newline + json.dumps({"error": message}).encode() + b"\n"


class SseMeter:
    """OpenAI streams: `data: {...}` events; the usage-only chunk is dropped unless asked for."""

    def __init__(self, forward_usage: bool, max_events: int) -> None:
        self._tail = b""
        self._events = 0
        self._usage: Usage | None = None
        self._forward_usage = forward_usage
        self._max_events = max_events

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk
        end = data.rfind(b"\n\n")
        if end == -1:
            self._tail = data
            if len(data) > MAX_LINE_BYTES:
                raise StreamCut("the backend sent an oversized event")
            return b""
        complete, self._tail = data[: end + 2], data[end + 2 :]
        if b'"usage"' not in complete:
            self._events += complete.count(b"\n\n")
            out = complete
        else:
            out = self._filter(complete)
        if self._events > self._max_events:
            raise StreamCut("the backend's stream exceeded its token limit")
        return out

    def _filter(self, complete: bytes) -> bytes:
        kept = []
        for event in complete.split(b"\n\n")[:-1]:
            if is_openai_usage_chunk(event):
                self._usage = openai_usage(_json_object(event.removeprefix(b"data:").strip()) or {})
                if not self._forward_usage:
                    continue
            else:
                self._events += 1
            kept.append(event + b"\n\n")
        return b"".join(kept)

    def flush(self) -> bytes:
        rest, self._tail = self._tail, b""
        return rest

    def usage(self, prompt_estimate: int) -> Usage:
        if self._usage is not None and self._usage.exact:
            return self._usage
        # Cut short, without the usage chunk: each event but [DONE] and the finish is ~1 token.
        return Usage(prompt_tokens=prompt_estimate, completion_tokens=max(0, self._events - 2))

    def error_chunk(self, message: str) -> bytes:
        body = {
            "error": {
                "message": message,
                "type": "api_error",
                "code": "backend_error",
                "param": None,
            }
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class _Watch:
    reading: bool = False
    client_gone: bool = False


async def _watch_disconnect(receive: Receive, relay_task: asyncio.Task[Any], watch: _Watch) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    watch.client_gone = True
    if watch.reading:  # cancel only an await on the backend, never a send to the client
        relay_task.cancel()


async def relay(
    ctx: RequestContext,
    upstream: httpx.Response,
    meter: Meter,
    receive: Receive,
    prompt_estimate: int,
    settle: Callable[[Usage], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """Yield the client's bytes; settle exactly once whatever happens."""
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch()
    watcher = asyncio.create_task(_watch_disconnect(receive, task, watch))
    received = 0
    try:
        chunks = upstream.aiter_raw()
        while True:
            watch.reading = True
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            finally:
                watch.reading = False
            received += len(chunk)
            if received > MAX_STREAM_BYTES:
                raise StreamCut("the backend's stream exceeded the size limit")
            out = meter.feed(chunk)
            if out:
                if ctx.first_byte_at is None:
                    ctx.first_byte_at = time.monotonic()
                if ctx.transcript is not None and len(ctx.transcript) < MAX_TRANSCRIPT_BYTES:
                    ctx.transcript.extend(out)  # opted-in keys only: the prompt log's response
                yield out
                if watch.client_gone:
                    break
        rest = meter.flush()
        if rest:
            yield rest
    except asyncio.CancelledError:
        if not watch.client_gone:
            raise
        task.uncancel()  # our own watcher cancelled the backend read: the client left
    except httpx.HTTPError:
        ctx.error_code = "backend_stream_interrupted"
        yield meter.error_chunk("the backend stopped in the middle of the answer")
    except StreamCut as cut:
        ctx.error_code = "backend_stream_cut"
        yield meter.error_chunk(str(cut))
    finally:
        watcher.cancel()
        ctx.client_disconnected = watch.client_gone
        await upstream.aclose()  # closing the connection makes Ollama stop generating
        await settle(meter.usage(prompt_estimate))
