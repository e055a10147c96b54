"""Step 9: request options that could hurt other tenants, capped or refused (SPEC §7).

- completion tokens (`options.num_predict`, `max_tokens`, `max_completion_tokens`) clamped to
  MAX_NUM_PREDICT and set when absent or negative (Ollama treats -1 and -2 as unlimited), and never
  above what the budget has left;
- `options.num_ctx` clamped to MAX_NUM_CTX (each distinct value reloads the model for everyone);
- `keep_alive` ignored, or clamped into 1..MAX_KEEP_ALIVE_S: `keep_alive: 0` would unload the
  model for every tenant, a negative value would pin it forever;
- runner options (GPU layers, threads, mmap, …) removed: they are the operator's, not a tenant's;
- `raw` prompts and `_debug_render_only` refused: they bypass or expose the model's template;
- base64 images decoded and checked for a known image header and size (a malformed image
  crashed Ollama, CVE-2025-15514).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from neuronetz_gateway.errors import GatewayError

RUNNER_OPTIONS = frozenset(
    {
        "num_gpu",
        "main_gpu",
        "num_thread",
        "use_mmap",
        "use_mlock",
        "numa",
        "low_vram",
        "f16_kv",
        "vocab_only",
        "num_batch",
        "logits_all",
        "embedding_only",
        "num_gqa",
        "rope_frequency_base",
        "rope_frequency_scale",
    }
)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


@dataclass(frozen=True, slots=True)
class Caps:
    """The limits step 9 enforces for one request."""

    max_completion_tokens: int
    max_num_ctx: int
    max_keep_alive_s: int
    max_image_bytes: int


def bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, "bad_request", message, param=param)


def cap_native(body: dict[str, Any], caps: Caps, generates: bool) -> int:
    """Apply the caps to a native request in place; return the completion-token cap set."""
    for flag in ("raw", "_debug_render_only"):
        if body.get(flag):
            raise bad(f"'{flag}' is not allowed through the gateway", flag)
        body.pop(flag, None)
    _cap_keep_alive(body, caps)
    options = body.get("options")
    if options is None:
        options = body["options"] = {}
    if not isinstance(options, dict):
        raise bad("'options' must be an object", "options")
    for name in RUNNER_OPTIONS & options.keys():
        del options[name]
    _cap_num_ctx(options, caps)
    _check_images(body.get("images"), caps, "images")
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            _check_images(message.get("images"), caps, "messages.images")
    if not generates:
        return 0
    wanted = options.get("num_predict")
    if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)):
        raise bad("'options.num_predict' must be an integer", "options.num_predict")
    options["num_predict"] = _clamp(wanted, caps.max_completion_tokens)
    return int(options["num_predict"])


def cap_openai(body: dict[str, Any], caps: Caps) -> int:
    """Apply the caps to an OpenAI-shaped completion request; return the completion-token cap."""
    chosen = caps.max_completion_tokens
    present = False
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad(f"'{name}' must be an integer", name)
        present = True
        body[name] = _clamp(value, caps.max_completion_tokens)
        chosen = min(chosen, body[name])
    if not present:
        body["max_tokens"] = caps.max_completion_tokens
    _check_openai_images(body.get("messages"), caps)
    return chosen


def narrow_completion(body: dict[str, Any], native: bool, granted: int) -> None:
    """Lower an already-capped completion limit to what the budgets and TPM granted."""
    if native:
        body["options"]["num_predict"] = granted
        return
    for name in ("max_tokens", "max_completion_tokens"):
        if name in body:
            body[name] = min(body[name], granted)


def _clamp(value: int | None, cap: int) -> int:
    if value is None or value <= 0:
        return cap  # absent, 0 or Ollama's "unlimited" (-1, -2)
    return min(value, cap)


def _cap_num_ctx(options: dict[str, Any], caps: Caps) -> None:
    value = options.get("num_ctx")
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad("'options.num_ctx' must be a positive integer", "options.num_ctx")
    options["num_ctx"] = min(value, caps.max_num_ctx)


def _cap_keep_alive(body: dict[str, Any], caps: Caps) -> None:
    if "keep_alive" not in body:
        return
    value = body.pop("keep_alive")
    if caps.max_keep_alive_s <= 0:
        return
    seconds = _duration_s(value)
    if seconds is None or seconds <= 0 or seconds > caps.max_keep_alive_s:
        seconds = caps.max_keep_alive_s
    body["keep_alive"] = f"{int(seconds)}s"


def _duration_s(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        for suffix in ("ms", "s", "m", "h"):
            if value.endswith(suffix):
                try:
                    return float(value[: -len(suffix)]) * units[suffix]
                except ValueError:
                    return None
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _check_images(images: object, caps: Caps, where: str) -> None:
    if images is None:
        return
    if not isinstance(images, list):
        raise bad(f"'{where}' must be a list of base64 strings", where)
    for image in images:
        if not isinstance(image, str):
            raise bad(f"'{where}' must be a list of base64 strings", where)
        _check_image(image, caps, where)


def _check_image(data: str, caps: Caps, where: str) -> None:
    if len(data) > caps.max_image_bytes * 4 // 3 + 4:
        raise bad(f"an image in '{where}' exceeds {caps.max_image_bytes} bytes", where)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"an image in '{where}' is not valid base64", where) from None
    if not raw.startswith(_IMAGE_MAGIC) and not (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"):
        raise bad(f"an image in '{where}' is not a PNG, JPEG, GIF, WebP or BMP image", where)


def _check_openai_images(messages: object, caps: Caps) -> None:
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            url = (part.get("image_url") or {}) if isinstance(part, dict) else {}
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str) and url.startswith("data:"):
                _, _, data = url.partition(",")
                _check_image(data, caps, "messages.content.image_url")
            elif isinstance(url, str):
                raise bad(
                    "image URLs must be base64 data: URLs; the gateway fetches nothing", "image_url"
                )
