"""Model discovery: poll each backend's /api/tags (SPEC §7).

A backend that does not answer drops out until it answers again; with no backend answering the
model set is empty and model requests fail closed (503). With Redis the polled result is shared:
an instance reuses a sibling's fresh result instead of polling the backend itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuronetz_gateway.config import Backend
from neuronetz_gateway.lifecycle import pause
from neuronetz_gateway.policy.models import BadModelName, normalize_model

log = logging.getLogger("neuronetz_gateway.discovery")


@dataclass(slots=True)
class BackendState:
    """What the gateway knows about one backend right now."""

    backend: Backend
    healthy: bool = False
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # normalized name -> tags entry
    checked_at: float = 0.0
    error: str | None = None
    in_flight: int = 0


class Discovery:
    """Keeps every backend's model list fresh."""

    def __init__(
        self,
        backends: tuple[Backend, ...],
        client: httpx.AsyncClient,
        refresh_s: float,
        redis: Redis | None = None,
        cache_ttl_s: float = 120.0,
    ) -> None:
        self.states = [BackendState(backend=b) for b in backends]
        self._client = client
        self._refresh_s = refresh_s
        self._redis = redis
        self._cache_ttl_s = cache_ttl_s

    def models(self) -> dict[str, dict[str, Any]]:
        """Every model some healthy backend has, with one tags entry each."""
        found: dict[str, dict[str, Any]] = {}
        for state in self.states:
            if state.healthy:
                for name, entry in state.models.items():
                    found.setdefault(name, entry)
        return found

    def backends_with(self, model: str) -> list[BackendState]:
        """Healthy backends that have `model`, least busy first."""
        holders = [s for s in self.states if s.healthy and model in s.models]
        return sorted(holders, key=lambda s: s.in_flight)

    async def refresh(self) -> None:
        """Poll every backend once, concurrently."""
        await asyncio.gather(*(self._refresh_one(state) for state in self.states))

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh until `stop` is set (a background task of the runtime)."""
        while not await pause(stop, self._refresh_s):
            try:
                await self.refresh()
            except Exception:  # never let discovery die; the next round retries
                log.exception("model discovery round failed")

    async def _refresh_one(self, state: BackendState) -> None:
        payload = await self._shared(state.backend)
        if payload is None:
            try:
                response = await self._client.get(f"{state.backend.url}/api/tags", timeout=5.0)
                response.raise_for_status()
                payload = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                if state.healthy:
                    log.warning(
                        "backend %s stopped answering: %s", state.backend.name, type(exc).__name__
                    )
                state.healthy, state.models, state.error = False, {}, type(exc).__name__
                state.checked_at = time.monotonic()
                return
            await self._share(state.backend, payload)
        state.models = _parse_tags(payload)
        if not state.healthy:
            log.info("backend %s answers with %d models", state.backend.name, len(state.models))
        state.healthy, state.error, state.checked_at = True, None, time.monotonic()

    async def _shared(self, backend: Backend) -> Any:
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(_redis_key(backend))
        except RedisError:
            return None
        if raw is None:
            return None
        stored = json.loads(raw)
        if time.time() - stored.get("at", 0) > self._refresh_s:
            return None
        return stored.get("tags")

    async def _share(self, backend: Backend, payload: Any) -> None:
        if self._redis is None:
            return
        try:
            value = json.dumps({"at": time.time(), "tags": payload})
            await self._redis.set(_redis_key(backend), value, ex=max(1, int(self._cache_ttl_s)))
        except RedisError:
            pass


def _parse_tags(payload: Any) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    entries = payload.get("models") if isinstance(payload, dict) else None
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("model") or entry.get("name")
        try:
            models[normalize_model(str(name))] = entry
        except BadModelName:
            continue  # a name we would refuse from clients is not served either
    return models


def _redis_key(backend: Backend) -> str:
    return f"nz:{{models}}:tags:{backend.url}"
