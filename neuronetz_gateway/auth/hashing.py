"""Argon2id hashing of API keys with the configured cost, run off the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from neuronetz_gateway.config import Settings


@dataclass(frozen=True, slots=True)
class KeyHasher:
    """Hashes and verifies key tokens; one instance per process, built from settings."""

    hasher: PasswordHasher

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyHasher:
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
                hash_len=32,
                salt_len=16,
                type=Type.ID,
            )
        )

    def hash(self, token: str) -> str:
        """Argon2id hash of the token (blocking, ~100 ms at the default cost)."""
        return self.hasher.hash(token)

    def verify(self, stored_hash: str, token: str) -> bool:
        """Constant-time check of a token against its stored hash (blocking)."""
        try:
            return self.hasher.verify(stored_hash, token)
        except (VerificationError, InvalidHashError):
            return False

    async def verify_async(self, stored_hash: str, token: str) -> bool:
        """`verify` in a worker thread, so the event loop keeps serving other requests."""
        return await asyncio.to_thread(self.verify, stored_hash, token)
