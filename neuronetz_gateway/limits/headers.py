"""OpenAI's rate-limit headers, on every authenticated response (SPEC §4)."""

from __future__ import annotations

from neuronetz_gateway.limits.store import Headroom


def duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `1h2m3s`, `120ms`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rate_headers(headroom: Headroom) -> list[tuple[bytes, bytes]]:
    """x-ratelimit-{limit,remaining,reset}-{requests,tokens}."""
    return [
        (b"x-ratelimit-limit-requests", str(headroom.limit_requests).encode()),
        (b"x-ratelimit-remaining-requests", str(headroom.remaining_requests).encode()),
        (b"x-ratelimit-reset-requests", duration(headroom.reset_requests_s).encode()),
        (b"x-ratelimit-limit-tokens", str(headroom.limit_tokens).encode()),
        (b"x-ratelimit-remaining-tokens", str(headroom.remaining_tokens).encode()),
        (b"x-ratelimit-reset-tokens", duration(headroom.reset_tokens_s).encode()),
    ]
