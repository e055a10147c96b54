"""Piccolo tables: the gateway's durable state (SPEC §5 to §8).

Migrations in `piccolo_migrations/` create these; they stay additive (new nullable columns, new
tables), because changing a column's type or nullability fails on SQLite.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Tenant(Table, tablename="tenant"):
    """A customer: limits, budgets, model policy and prompt-logging defaults shared by its keys."""

    id = Serial(primary_key=True)
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


class ApiKey(Table, tablename="api_key"):
    """A tenant's API key: public prefix, Argon2id hash, optional narrowing overrides."""

    id = Serial(primary_key=True)
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


class UsageCounter(Table, tablename="usage_counter"):
    """Tokens and requests of one tenant or key in one budget period (day, month or total)."""

    scope = Varchar(length=8, null=False)  # "tenant" | "key"
    scope_id = BigInt(null=False)
    period = Varchar(length=8, null=False)  # "day" | "month" | "total"
    period_start = Varchar(length=10, null=False)  # "2026-11-23" | "2026-11" | "all"
    requests = BigInt(default=0)
    prompt_tokens = BigInt(default=0)
    completion_tokens = BigInt(default=0)
    updated_at = Timestamptz()


class AuditRecord(Table, tablename="audit_record"):
    """One request, served or refused (SPEC §8)."""

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


class PromptLog(Table, tablename="prompt_log"):
    """Request messages and response text of an opted-in key, kept until `expires_at`."""

    id = BigSerial(primary_key=True)
    created_at = Timestamptz()
    request_id = Varchar(length=128, index=True)
    tenant_id = BigInt(null=True, default=None)
    key_prefix = Varchar(length=11, index=True)
    model = Varchar(length=200, null=True, default=None)
    request_body = Text()
    response_text = Text()
    expires_at = Timestamptz(index=True)


class GatewayState(Table, tablename="gateway_state"):
    """Small shared counters, such as the auth epoch every instance polls to drop stale caches."""

    name = Varchar(length=64, unique=True, null=False)
    value = BigInt(default=0)


class SchemaMigration(Table, tablename="schema_migration"):
    """Which migrations of `piccolo_migrations/` ran, and when."""

    name = Varchar(length=200, unique=True, null=False)
    ran_at = Timestamptz()


ALL_TABLES: tuple[type[Table], ...] = (
    Tenant,
    ApiKey,
    UsageCounter,
    AuditRecord,
    PromptLog,
    GatewayState,
    SchemaMigration,
)
