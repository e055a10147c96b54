"""Open the database the settings name (embedded SQLite in WAL mode, or Postgres with a pool)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from neuronetz_gateway.config import Settings
from neuronetz_gateway.db.tables import ALL_TABLES

log = logging.getLogger("neuronetz_gateway.db")


class _QuietPostgresEngine(PostgresEngine):
    """Piccolo's engines query the server version synchronously when built, printing coloured
    warnings when it is down; the gateway reports reachability itself (`ping`, `/readyz`)."""

    async def check_version(self) -> None:
        return None


class _QuietSQLiteEngine(SQLiteEngine):
    __doc__ = _QuietPostgresEngine.__doc__

    async def check_version(self) -> None:
        return None


class DatabaseUnavailable(Exception):
    """The database cannot be reached or answered with an error; callers fail closed."""


@dataclass(slots=True)
class Database:
    """The open engine plus what callers need to know about it."""

    engine: Engine[Any]
    kind: str  # "sqlite" | "postgres"
    where: str  # file path or host:port/dbname, never credentials

    async def ping(self) -> None:
        """Run a trivial query; raise DatabaseUnavailable when that fails."""
        try:
            await asyncio.wait_for(self.execute("SELECT 1"), timeout=5)
        except Exception as exc:
            raise DatabaseUnavailable(describe_db_error(exc)) from exc

    async def execute(self, sql: str) -> None:
        """Run one statement (inside the current transaction, if any)."""
        await self.engine.run_ddl(sql)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Release pooled connections; a connection left busy by a cancelled query is cut."""
        if not isinstance(self.engine, PostgresEngine) or self.engine.pool is None:
            return
        pool = self.engine.pool
        try:
            # asyncpg's close() waits for every connection to come back, which a query cancelled
            # at shutdown may never do; the process must still exit (SIGTERM -> exit 0).
            await asyncio.wait_for(pool.close(), timeout_s)  # type: ignore[no-untyped-call]
        except TimeoutError:
            log.warning("database connections did not close in %.0f s; cutting them", timeout_s)
            pool.terminate()  # type: ignore[no-untyped-call]
        self.engine.pool = None


async def open_database(settings: Settings, *, pool: bool = True) -> Database:
    """Create the engine, bind every table to it, and (Postgres) start the pool."""
    if settings.database_url is None:
        database = _open_sqlite(settings)
    else:
        database = await _open_postgres(settings, pool=pool)
    for table in ALL_TABLES:
        table._meta.db = database.engine
    return database


def _open_sqlite(settings: Settings) -> Database:
    path = settings.sqlite_path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # One writer at a time is SQLite's rule; the busy timeout queues writers instead of failing.
    engine = _QuietSQLiteEngine(path=str(path), timeout=30)
    database = Database(engine=engine, kind="sqlite", where=str(path))
    _enable_wal(str(path))
    return database


def _enable_wal(path: str) -> None:
    # WAL is a property of the file, so setting it once per open is enough; readers then never
    # block the writer (the CLI and the server share the file in embedded mode).
    import sqlite3

    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    os.chmod(path, 0o600)


async def _open_postgres(settings: Settings, *, pool: bool) -> Database:
    assert settings.database_url is not None
    parts = urlsplit(settings.database_url)
    where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    engine = _QuietPostgresEngine(config={"dsn": settings.database_url, "timeout": 10})
    database = Database(engine=engine, kind="postgres", where=where)
    if pool:
        try:
            await engine.start_connection_pool(
                min_size=1,
                max_size=settings.database_pool_size + settings.database_pool_overflow,
                max_inactive_connection_lifetime=300,
            )
        except Exception as exc:
            raise DatabaseUnavailable(f"Postgres at {where}: {describe_db_error(exc)}") from exc
    return database


def describe_db_error(exc: BaseException) -> str:
    """One readable line for a database failure, without credentials."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
