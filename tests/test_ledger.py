"""The usage ledger keeps what it could not write and writes it when the database is back."""

from __future__ import annotations

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
