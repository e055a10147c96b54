"""Apply the forward migrations of `piccolo_migrations/` exactly once, safely under concurrency."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, cast

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import TransactionType

import piccolo_migrations
from neuronetz_gateway.db.engine import Database
from neuronetz_gateway.db.tables import SchemaMigration

# Any constant works; it only has to be the same in every process running `migrate`.
_ADVISORY_LOCK_ID = 0x6E7A6777  # "nzgw"


def available_migrations() -> list[tuple[str, ModuleType]]:
    """Every migration module, sorted by ID."""
    found = []
    for info in pkgutil.iter_modules(piccolo_migrations.__path__):
        module = importlib.import_module(f"piccolo_migrations.{info.name}")
        migration_id = getattr(module, "ID", None)
        if isinstance(migration_id, str):
            found.append((migration_id, module))
    return sorted(found, key=lambda item: item[0])


async def pending_migrations(database: Database) -> list[str]:
    """IDs of migrations not yet applied."""
    applied = await _applied(database) if await SchemaMigration.table_exists().run() else set()
    return [mid for mid, _ in available_migrations() if mid not in applied]


async def apply_migrations(database: Database) -> list[str]:
    """Apply every pending migration in one transaction; return the IDs applied.

    Postgres: a transaction-scoped advisory lock makes concurrent runs wait for each other, and the
    second one then finds nothing to do. SQLite: BEGIN IMMEDIATE takes the write lock up front.
    """
    engine = database.engine
    async with _exclusive_transaction(database):
        if database.kind == "postgres":
            await database.execute(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
        await SchemaMigration.create_table(if_not_exists=True).run()  # type: ignore[no-untyped-call]
        applied = await _applied(database)
        done = []
        for migration_id, module in available_migrations():
            if migration_id in applied:
                continue
            forwards = cast(Callable[[Engine[Any]], Awaitable[None]], module.forwards)
            await forwards(engine)
            await SchemaMigration.insert(
                SchemaMigration(name=migration_id, ran_at=datetime.now(UTC))
            ).run()
            done.append(migration_id)
    return done


def _exclusive_transaction(database: Database):  # type: ignore[no-untyped-def]
    engine = database.engine
    if database.kind == "sqlite":
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def _applied(database: Database) -> set[str]:
    rows = await SchemaMigration.select(SchemaMigration.name).run()
    return {row["name"] for row in rows}
