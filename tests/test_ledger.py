"""The usage ledger and the audit buffer keep unwritten rows until the database is back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from neuronetz_gateway.config import Settings, load_settings
from neuronetz_gateway.db.engine import Database, open_database
from neuronetz_gateway.db.usage import read_usage
from neuronetz_gateway.limits.ledger import UsageLedger


async def test_usage_waits_through_a_database_outage(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    ledger = UsageLedger()
    ledger.add(tenant_id=1, key_id=7, prompt_tokens=10, completion_tokens=5)
    # Point the tables at a database that cannot be opened: the write fails, nothing is dropped.
    unreachable = tmp_path / "gone"
    unreachable.mkdir()
    broken = await open_database(load_settings({"GATEWAY_STATE_DIR": str(unreachable)}))
    unreachable.joinpath("neuronetz-gateway.sqlite3").unlink()
    unreachable.rmdir()
    assert await ledger.flush() is False
    ledger.add(tenant_id=1, key_id=7, prompt_tokens=1, completion_tokens=1)
    assert ledger.pending > 0
    await broken.close()
    back = await open_database(settings)  # the database is back: tables bound to it again
    try:
        assert await ledger.flush() is True
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        assert await read_usage("key", 7, "day", today) == (2, 11, 6)
        assert await read_usage("tenant", 1, "total", "all") == (2, 11, 6)
        assert ledger.pending == 0
    finally:
        await back.close()


async def test_audit_rows_wait_through_a_database_outage(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    from neuronetz_gateway.audit.buffer import AuditBuffer
    from neuronetz_gateway.db.audit import AuditRow, query_audit

    buffer = AuditBuffer(capacity=2)
    now = datetime.now(UTC)
    row = AuditRow(
        now,
        "outage-1",
        None,
        None,
        "127.0.0.1",
        "GET",
        "/api/tags",
        None,
        None,
        401,
        "invalid_api_key",
        0,
        0,
        1.0,
        None,
        False,
        False,
        now,
    )
    buffer.record(row)
    buffer.record(replace(row, request_id="outage-2"))
    assert buffer.denying
    unreachable = tmp_path / "gone"
    unreachable.mkdir()
    broken = await open_database(load_settings({"GATEWAY_STATE_DIR": str(unreachable)}))
    unreachable.joinpath("neuronetz-gateway.sqlite3").unlink()
    unreachable.rmdir()
    assert await buffer.drain() is False and buffer.depth == 2  # nothing dropped
    await broken.close()
    back = await open_database(settings)
    try:
        assert await buffer.drain() is True and not buffer.denying
        assert sorted(r["request_id"] for r in await query_audit()) == ["outage-1", "outage-2"]
    finally:
        await back.close()
