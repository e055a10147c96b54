"""Migrations and the tenant/key lifecycle, on SQLite and on Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from neuronetz_gateway.admin import keys, tenants
from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.config import Settings, load_settings
from neuronetz_gateway.db import state
from neuronetz_gateway.db.engine import Database, open_database
from neuronetz_gateway.db.migrate import apply_migrations, available_migrations, pending_migrations
from neuronetz_gateway.db.records import Limits
from neuronetz_gateway.db.tables import ALL_TABLES


async def test_migrations_run_from_empty_once(settings: Settings) -> None:
    db = await open_database(settings)
    try:
        all_ids = [mid for mid, _ in available_migrations()]
        assert await pending_migrations(db) == all_ids
        assert await apply_migrations(db) == all_ids
        assert await apply_migrations(db) == []
        assert await pending_migrations(db) == []
        for table in ALL_TABLES:
            assert await table.table_exists().run(), table._meta.tablename
    finally:
        await db.close()


@pytest.mark.postgres
async def test_concurrent_migrate_runs_on_postgres_apply_each_migration_once(
    postgres_url: str,
) -> None:
    settings = load_settings({"DATABASE_URL": postgres_url})
    databases = [await open_database(settings) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(db) for db in databases))
        applied = [mid for result in results for mid in result]
        assert sorted(applied) == [mid for mid, _ in available_migrations()]
    finally:
        for db in databases:
            await db.close()


async def test_sqlite_database_is_in_wal_mode(tmp_path: object) -> None:
    settings = load_settings({"GATEWAY_STATE_DIR": str(tmp_path)})
    db = await open_database(settings)
    rows = await db.engine.run_ddl("PRAGMA journal_mode")
    assert rows[0]["journal_mode"] == "wal"
    assert oct(settings.sqlite_path.stat().st_mode & 0o777) == "0o600"


async def test_tenant_lifecycle(database: Database) -> None:
    created = await tenants.create_tenant(
        "acme", Limits(rpm=100, daily_budget=5000), ("llama3.2", "qwen3:8b")
    )
    assert created.models == ("llama3.2:latest", "qwen3:8b") and not created.allow_all_models
    updated = await tenants.update_tenant(
        "acme",
        tenants.TenantChanges(limits={"tpm": 9000}, unset=("daily_budget",), allow_all_models=True),
    )
    assert (updated.limits.tpm, updated.limits.daily_budget, updated.allow_all_models) == (
        9000,
        None,
        True,
    )
    disabled = await tenants.disable_tenant("acme")
    assert disabled.disabled
    assert [t.name for t in await tenants.list_tenants()] == ["acme"]


async def test_tenant_mistakes_are_refused_with_one_line(database: Database) -> None:
    await tenants.create_tenant("acme", Limits(), None)
    with pytest.raises(AdminError, match="already exists"):
        await tenants.create_tenant("acme", Limits(), None)
    with pytest.raises(AdminError, match="rpm must be at least 1"):
        await tenants.create_tenant("other", Limits(rpm=0), None)
    with pytest.raises(AdminError, match="invalid model name"):
        await tenants.create_tenant("other", Limits(), ("../etc/passwd",))
    with pytest.raises(AdminError, match="unknown tenant"):
        await tenants.update_tenant("ghost", tenants.TenantChanges(disabled=True))


async def test_key_lifecycle_create_revoke_rotate(database: Database, settings: Settings) -> None:
    hasher = KeyHasher.from_settings(settings)
    await tenants.create_tenant("acme", Limits(rpm=100), None)
    issued = await keys.create_key(hasher, "acme", "server-1", limits=Limits(rpm=10))
    assert hasher.verify(issued.record.secret_hash, issued.token)
    assert issued.record.secret_hash.startswith("$argon2id$")
    assert issued.token not in repr(await keys.list_keys("acme"))

    successor, old = await keys.rotate_key(hasher, issued.record.prefix, timedelta(hours=1))
    assert successor.record.rotated_from == issued.record.prefix
    assert successor.record.limits.rpm == 10
    assert old.expires_at is not None and old.expires_at < datetime.now(UTC) + timedelta(hours=2)
    assert old.state(datetime.now(UTC)) == "active"

    revoked = await keys.revoke_key(successor.record.prefix)
    assert revoked.state(datetime.now(UTC)) == "revoked"
    assert old.state(datetime.now(UTC) + timedelta(hours=2)) == "expired"


async def test_key_can_only_narrow_its_tenant(database: Database, settings: Settings) -> None:
    hasher = KeyHasher.from_settings(settings)
    await tenants.create_tenant("acme", Limits(rpm=100, daily_budget=1000), ("llama3.2",))
    with pytest.raises(AdminError, match="can only narrow"):
        await keys.create_key(hasher, "acme", "k", limits=Limits(rpm=101))
    with pytest.raises(AdminError, match="not allowed for tenant"):
        await keys.create_key(hasher, "acme", "k", models=("qwen3:8b",))
    narrowed = await keys.create_key(
        hasher, "acme", "k", limits=Limits(rpm=50), models=("llama3.2",)
    )
    assert narrowed.record.models == ("llama3.2:latest",)


async def test_auth_changes_bump_the_epoch(database: Database, settings: Settings) -> None:
    hasher = KeyHasher.from_settings(settings)
    await tenants.create_tenant("acme", Limits(), None)
    issued = await keys.create_key(hasher, "acme", "k")
    before = await state.read(state.AUTH_EPOCH)
    await keys.revoke_key(issued.record.prefix)
    await tenants.disable_tenant("acme")
    assert await state.read(state.AUTH_EPOCH) == before + 2
