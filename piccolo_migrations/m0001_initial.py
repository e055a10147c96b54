"""Initial schema: tenants, keys, usage counters, audit records, prompt logs, shared state."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine.base import Engine
from piccolo.table import Table

ID = "0001_initial"


async def forwards(engine: Engine) -> None:
    """Create the first tables (frozen shapes; see the package docstring)."""

    class Tenant(Table, tablename="tenant", db=engine):
        name = Varchar(length=100, unique=True, null=False)
        rpm = Integer(null=True, default=None)
        tpm = BigInt(null=True, default=None)
        concurrent = Integer(null=True, default=None)
        daily_budget = BigInt(null=True, default=None)
        monthly_budget = BigInt(null=True, default=None)
        total_budget = BigInt(null=True, default=None)
        allow_all_models = Boolean(default=True)
        models = JSON(default="[]")
        log_prompts = Boolean(default=False)
        prompt_retention_days = Integer(null=True, default=None)
        disabled = Boolean(default=False)
        created_at = Timestamptz()
        updated_at = Timestamptz()

    class ApiKey(Table, tablename="api_key", db=engine):
        tenant = ForeignKey(references=Tenant, null=False)
        name = Varchar(length=100, null=False)
        prefix = Varchar(length=11, unique=True, index=True, null=False)
        secret_hash = Text(null=False)
        rpm = Integer(null=True, default=None)
        tpm = BigInt(null=True, default=None)
        concurrent = Integer(null=True, default=None)
        daily_budget = BigInt(null=True, default=None)
        monthly_budget = BigInt(null=True, default=None)
        total_budget = BigInt(null=True, default=None)
        models = JSON(null=True, default=None)
        log_prompts = Boolean(null=True, default=None)
        prompt_retention_days = Integer(null=True, default=None)
        expires_at = Timestamptz(null=True, default=None)
        revoked_at = Timestamptz(null=True, default=None)
        last_used_at = Timestamptz(null=True, default=None)
        rotated_from = Varchar(length=11, null=True, default=None)
        created_at = Timestamptz()

    class UsageCounter(Table, tablename="usage_counter", db=engine):
        scope = Varchar(length=8, null=False)
        scope_id = BigInt(null=False)
        period = Varchar(length=8, null=False)
        period_start = Varchar(length=10, null=False)
        requests = BigInt(default=0)
        prompt_tokens = BigInt(default=0)
        completion_tokens = BigInt(default=0)
        updated_at = Timestamptz()

    class AuditRecord(Table, tablename="audit_record", db=engine):
        id = BigSerial(primary_key=True)
        created_at = Timestamptz(index=True)
        request_id = Varchar(length=128, index=True)
        tenant_id = BigInt(null=True, default=None, index=True)
        key_prefix = Varchar(length=11, null=True, default=None, index=True)
        client_ip = Varchar(length=45)
        method = Varchar(length=16)
        path = Varchar(length=512)
        model = Varchar(length=200, null=True, default=None)
        backend = Varchar(length=100, null=True, default=None)
        status = Integer()
        error_code = Varchar(length=64, null=True, default=None)
        prompt_tokens = BigInt(default=0)
        completion_tokens = BigInt(default=0)
        latency_ms = DoublePrecision(default=0.0)
        ttfb_ms = DoublePrecision(null=True, default=None)
        streamed = Boolean(default=False)
        client_disconnected = Boolean(default=False)
        expires_at = Timestamptz(index=True)

    class PromptLog(Table, tablename="prompt_log", db=engine):
        id = BigSerial(primary_key=True)
        created_at = Timestamptz()
        request_id = Varchar(length=128, index=True)
        tenant_id = BigInt(null=True, default=None)
        key_prefix = Varchar(length=11, index=True)
        model = Varchar(length=200, null=True, default=None)
        request_body = Text()
        response_text = Text()
        expires_at = Timestamptz(index=True)

    class GatewayState(Table, tablename="gateway_state", db=engine):
        name = Varchar(length=64, unique=True, null=False)
        value = BigInt(default=0)

    for table in (Tenant, ApiKey, UsageCounter, AuditRecord, PromptLog, GatewayState):
        await table.create_table(if_not_exists=True).run()
    # One counter row per (scope, id, period, start): settlement upserts into it atomically.
    await engine.run_ddl(
        "CREATE UNIQUE INDEX IF NOT EXISTS usage_counter_bucket "
        "ON usage_counter (scope, scope_id, period, period_start)"
    )
