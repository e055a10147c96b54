"""The collaborators a serving process opens at start and closes at stop, in that order."""

from __future__ import annotations

from dataclasses import dataclass

from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.config import Settings
from neuronetz_gateway.db.engine import Database, open_database


@dataclass(slots=True)
class Runtime:
    """Everything a request handler may need, opened once per process."""

    settings: Settings
    database: Database
    hasher: KeyHasher

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Open the database (raises DatabaseUnavailable with a readable message)."""
        database = await open_database(settings)
        await database.ping()
        return cls(settings=settings, database=database, hasher=KeyHasher.from_settings(settings))

    async def close(self) -> None:
        """Release everything, in reverse order of opening."""
        await self.database.close()
