"""How the CLI shows records: plain dicts for --json, aligned columns for people.

No function here ever sees a token; key dicts carry the public prefix only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import typer

from neuronetz_gateway.db.records import LIMIT_FIELDS, KeyRecord, TenantRecord


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def tenant_dict(tenant: TenantRecord) -> dict[str, Any]:
    """A tenant as JSON-ready values."""
    return {
        "name": tenant.name,
        **{name: getattr(tenant.limits, name) for name in LIMIT_FIELDS},
        "allow_all_models": tenant.allow_all_models,
        "models": list(tenant.models),
        "log_prompts": tenant.log_prompts,
        "prompt_retention_days": tenant.prompt_retention_days,
        "disabled": tenant.disabled,
        "created_at": _when(tenant.created_at),
        "updated_at": _when(tenant.updated_at),
    }


def key_dict(key: KeyRecord, now: datetime) -> dict[str, Any]:
    """A key as JSON-ready values: public prefix and state, never the secret or its hash."""
    return {
        "prefix": key.prefix,
        "tenant": key.tenant_name,
        "name": key.name,
        "state": key.state(now),
        **{name: getattr(key.limits, name) for name in LIMIT_FIELDS},
        "models": list(key.models) if key.models is not None else None,
        "log_prompts": key.log_prompts,
        "prompt_retention_days": key.prompt_retention_days,
        "expires_at": _when(key.expires_at),
        "revoked_at": _when(key.revoked_at),
        "last_used_at": _when(key.last_used_at),
        "rotated_from": key.rotated_from,
        "created_at": _when(key.created_at),
    }


def print_json(value: object) -> None:
    """Machine output: one JSON document on stdout."""
    typer.echo(json.dumps(value, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Human output: aligned columns; None shows as '-'."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)
