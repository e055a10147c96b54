"""Token counts from Ollama's answers, on both surfaces, complete or cut short."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_OPENAI_USAGE_CHUNK = re.compile(rb'"choices"\s*:\s*\[\s*\]')


@dataclass(slots=True)
class Usage:
    """Prompt and completion tokens; `exact` when the backend reported them itself."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    exact: bool = False


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """A rough prompt size (4 characters a token) for answers that never reported one."""
    text = 0
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            text += len(str(message.get("content", "")))
    for name in ("prompt", "system", "suffix", "input"):
        value = body.get(name)
        if value is not None:
            text += len(value) if isinstance(value, str) else len(json.dumps(value))
    return max(1, text // 4)


def native_usage(answer: dict[str, Any]) -> Usage | None:
    """Counts from a native final object (`done: true`) or an /api/embed answer."""
    if "prompt_eval_count" not in answer and "eval_count" not in answer:
        return None
    return Usage(
        prompt_tokens=_int(answer.get("prompt_eval_count")),
        completion_tokens=_int(answer.get("eval_count")),
        exact=True,
    )


def openai_usage(answer: dict[str, Any]) -> Usage | None:
    """Counts from an OpenAI-shaped `usage` object."""
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        exact=True,
    )


def is_openai_usage_chunk(event: bytes) -> bool:
    """The trailing SSE chunk that carries only usage (`"choices": []`)."""
    return b'"usage"' in event and _OPENAI_USAGE_CHUNK.search(event) is not None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
