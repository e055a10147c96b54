"""`neuronetz-gateway …`: the same commands from the pyz, the venv and the container.

Exit codes scripts can rely on: 0 success, 1 an expected failure (unknown tenant, duplicate name,
bad value, database unreachable, pending migrations for `migrate --check`), 2 invalid configuration
or usage.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from neuronetz_gateway import __version__
from neuronetz_gateway.admin import audit as audit_admin
from neuronetz_gateway.admin import backends as backend_admin
from neuronetz_gateway.admin import keys as key_admin
from neuronetz_gateway.admin import tenants as tenant_admin
from neuronetz_gateway.admin import usage as usage_admin
from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.admin.timespec import parse_ago, parse_duration, parse_when
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.cli.render import key_dict, print_json, print_table, tenant_dict
from neuronetz_gateway.config import ConfigError, Settings, default_env_file, load_settings
from neuronetz_gateway.db.engine import Database, DatabaseUnavailable, open_database
from neuronetz_gateway.db.migrate import apply_migrations, pending_migrations
from neuronetz_gateway.db.records import KeyRecord, Limits

T = TypeVar("T")

app = typer.Typer(
    name="neuronetz-gateway",
    help="The secure, multi-tenant gateway in front of Ollama.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", help="env file to read (default: .env in the working directory)"),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
Rpm = Annotated[int | None, typer.Option("--rpm", help="requests per minute")]
Tpm = Annotated[int | None, typer.Option("--tpm", help="tokens per minute")]
Concurrent = Annotated[int | None, typer.Option("--concurrent", help="requests in flight")]
Daily = Annotated[int | None, typer.Option("--daily-budget", help="tokens per UTC day")]
Monthly = Annotated[int | None, typer.Option("--monthly-budget", help="tokens per UTC month")]
Total = Annotated[int | None, typer.Option("--total-budget", help="tokens in total")]
Models = Annotated[
    str | None,
    typer.Option("--models", help="comma-separated model allowlist, e.g. llama3.2,qwen3:8b"),
]
KeyLogPrompts = Annotated[
    bool | None,
    typer.Option(
        "--log-prompts/--no-log-prompts", help="keep this key's prompts and answers (opt-in)"
    ),
]
KeyPromptRetention = Annotated[int | None, typer.Option(help="days its prompt logs are kept")]

_env_file: Path | None = None


@app.callback()
def _root(env_file: EnvFile = None) -> None:
    global _env_file
    _env_file = env_file


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    """Load and validate the configuration, or exit 2 listing every problem."""
    try:
        return load_settings(env_file=_env_file or default_env_file())
    except ConfigError as exc:
        typer.echo("error: invalid configuration:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from None


def with_database(
    action: Callable[[Settings, Database], Awaitable[T]], *, migrated: bool = True
) -> T:
    """Open the database, run `action(settings, database)`, close; expected failures exit 1."""
    config = settings()

    async def run() -> T:
        database = await open_database(config, pool=False)
        try:
            await database.ping()
            if migrated and await pending_migrations(database):
                raise AdminError(
                    "the database schema is not current: run `neuronetz-gateway migrate`"
                )
            return await action(config, database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except AdminError as exc:
        fail(str(exc))
    except DatabaseUnavailable as exc:
        fail(f"database unavailable: {exc}")


def _limits(
    rpm: int | None,
    tpm: int | None,
    concurrent: int | None,
    daily: int | None,
    monthly: int | None,
    total: int | None,
) -> Limits:
    return Limits(
        rpm=rpm,
        tpm=tpm,
        concurrent=concurrent,
        daily_budget=daily,
        monthly_budget=monthly,
        total_budget=total,
    )


def _given(limits: Limits) -> dict[str, int]:
    """The limits an update names (None means: leave it alone)."""
    return {k: v for k, v in dataclasses.asdict(limits).items() if v is not None}


def _model_list(models: str | None) -> tuple[str, ...] | None:
    if models is None:
        return None
    return tuple(m.strip() for m in models.split(",") if m.strip())


# -- serving -----------------------------------------------------------------------------------


@app.command()
def serve(
    workers: Annotated[
        int, typer.Option(help="worker processes (more than 1 needs REDIS_URL)")
    ] = 1,
    host: Annotated[str | None, typer.Option(help="override GATEWAY_BIND_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="override GATEWAY_BIND_PORT")] = None,
    migrate: Annotated[bool, typer.Option(help="apply pending migrations before serving")] = True,
) -> None:
    """Serve the gateway (embedded SQLite and in-process limits unless configured otherwise)."""
    from neuronetz_gateway import server
    from neuronetz_gateway.logs import configure_logging

    config = settings()
    config = dataclasses.replace(
        config, bind_host=host or config.bind_host, bind_port=port or config.bind_port
    )
    try:
        server.check_workers(config, workers)
    except server.StartupError as exc:
        fail(str(exc), exc.exit_code)
    configure_logging(config)
    if migrate:
        applied = with_database(lambda _, database: apply_migrations(database), migrated=False)
        if applied:
            typer.echo(f"applied migrations: {', '.join(applied)}", err=True)
    raise typer.Exit(server.serve_forever(config, workers))


@app.command()
def migrate(
    check: Annotated[
        bool, typer.Option("--check", help="only report; exit 1 when migrations are pending")
    ] = False,
    json_out: Json = False,
) -> None:
    """Apply pending database migrations (safe to run concurrently)."""

    ids = with_database(
        lambda _, database: (pending_migrations if check else apply_migrations)(database),
        migrated=False,
    )
    if json_out:
        print_json({"pending" if check else "applied": ids})
    elif check:
        typer.echo(f"pending migrations: {', '.join(ids)}" if ids else "migrations are current")
    else:
        typer.echo(
            f"applied: {', '.join(ids)}" if ids else "nothing to apply: migrations are current"
        )
    if check and ids:
        raise typer.Exit(1)


# -- tenants -----------------------------------------------------------------------------------


@app.command("create-tenant")
def create_tenant(
    name: Annotated[str, typer.Option("--name", help="unique tenant name")],
    rpm: Rpm = None,
    tpm: Tpm = None,
    concurrent: Concurrent = None,
    daily_budget: Daily = None,
    monthly_budget: Monthly = None,
    total_budget: Total = None,
    models: Models = None,
    allow_all_models: Annotated[
        bool, typer.Option("--allow-all-models", help="every discovered model (default)")
    ] = False,
    log_prompts: Annotated[
        bool, typer.Option("--log-prompts", help="default prompt logging for its keys")
    ] = False,
    prompt_retention_days: Annotated[
        int | None, typer.Option(help="days prompt logs are kept")
    ] = None,
    json_out: Json = False,
) -> None:
    """Create a tenant; unset limits use the DEFAULT_* settings, unset budgets are unlimited."""
    if models is not None and allow_all_models:
        fail("choose either --models or --allow-all-models")
    limits = _limits(rpm, tpm, concurrent, daily_budget, monthly_budget, total_budget)
    tenant = with_database(
        lambda *_: tenant_admin.create_tenant(
            name, limits, _model_list(models), log_prompts, prompt_retention_days
        )
    )
    if json_out:
        print_json(tenant_dict(tenant))
    else:
        typer.echo(f"created tenant {tenant.name!r}")


@app.command("update-tenant")
def update_tenant(
    name: Annotated[str, typer.Option("--name", help="the tenant to change")],
    rpm: Rpm = None,
    tpm: Tpm = None,
    concurrent: Concurrent = None,
    daily_budget: Daily = None,
    monthly_budget: Monthly = None,
    total_budget: Total = None,
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            help="reset a limit/budget to default (repeatable), e.g. --unset daily_budget",
        ),
    ] = None,
    models: Models = None,
    allow_all_models: Annotated[
        bool | None, typer.Option("--allow-all-models/--allowlist-only", help="model policy")
    ] = None,
    log_prompts: Annotated[bool | None, typer.Option("--log-prompts/--no-log-prompts")] = None,
    prompt_retention_days: Annotated[
        int | None, typer.Option(help="days prompt logs are kept")
    ] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="enable or disable the tenant")
    ] = None,
    json_out: Json = False,
) -> None:
    """Change a tenant's limits, budgets, model policy or state (live within 2 s)."""
    given = _limits(rpm, tpm, concurrent, daily_budget, monthly_budget, total_budget)
    changes = tenant_admin.TenantChanges(
        limits=_given(given),
        unset=tuple(u.replace("-", "_") for u in unset or ()),
        allow_all_models=allow_all_models,
        models=_model_list(models),
        log_prompts=log_prompts,
        prompt_retention_days=prompt_retention_days,
        disabled=None if enable is None else not enable,
    )
    tenant = with_database(lambda *_: tenant_admin.update_tenant(name, changes))
    if json_out:
        print_json(tenant_dict(tenant))
    else:
        typer.echo(f"updated tenant {tenant.name!r}")


@app.command("list-tenants")
def list_tenants(json_out: Json = False) -> None:
    """List tenants with their limits, budgets and model policy."""
    rows = [tenant_dict(t) for t in with_database(lambda *_: tenant_admin.list_tenants())]
    if json_out:
        print_json(rows)
        return
    for row in rows:
        row["models"] = "all" if row["allow_all_models"] else row["models"]
    print_table(
        rows,
        [
            "name",
            "rpm",
            "tpm",
            "concurrent",
            "daily_budget",
            "monthly_budget",
            "total_budget",
            "models",
            "disabled",
        ],
    )


@app.command("disable-tenant")
def disable_tenant(
    name: Annotated[str, typer.Option("--name", help="the tenant to disable")],
    json_out: Json = False,
) -> None:
    """Disable a tenant: every key of it is refused within 2 s."""
    tenant = with_database(lambda *_: tenant_admin.disable_tenant(name))
    if json_out:
        print_json(tenant_dict(tenant))
    else:
        typer.echo(f"disabled tenant {tenant.name!r}")


# -- keys --------------------------------------------------------------------------------------


@app.command("create-key")
def create_key(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant the key belongs to")],
    name: Annotated[str, typer.Option("--name", help="what the key is for, e.g. prod-server-1")],
    expires: Annotated[
        str | None, typer.Option("--expires", help="30d, 12h or a date/ISO time")
    ] = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    concurrent: Concurrent = None,
    daily_budget: Daily = None,
    monthly_budget: Monthly = None,
    total_budget: Total = None,
    models: Annotated[
        str | None, typer.Option("--models", help="comma-separated subset of the tenant's models")
    ] = None,
    log_prompts: KeyLogPrompts = None,
    prompt_retention_days: KeyPromptRetention = None,
    json_out: Json = False,
) -> None:
    """Create a key and print it. This is the only time the full key is shown."""
    limits = _limits(rpm, tpm, concurrent, daily_budget, monthly_budget, total_budget)

    async def action(config: Settings, _: Database) -> key_admin.IssuedKey:
        expires_at = parse_when(expires, datetime.now(UTC)) if expires else None
        return await key_admin.create_key(
            KeyHasher.from_settings(config),
            tenant,
            name,
            expires_at,
            limits,
            _model_list(models),
            log_prompts,
            prompt_retention_days,
        )

    issued = with_database(action)
    _show_issued(issued, json_out)


def _show_issued(issued: key_admin.IssuedKey, json_out: bool) -> None:
    if json_out:
        print_json({**key_dict(issued.record, datetime.now(UTC)), "key": issued.token})
        return
    typer.echo(
        f"created key {issued.record.prefix} ({issued.record.name}) "
        f"for tenant {issued.record.tenant_name!r}"
    )
    typer.echo("")
    typer.echo(f"    {issued.token}")
    typer.echo("")
    typer.echo("Store it now: it is shown only this once and cannot be recovered.", err=True)


@app.command("list-keys")
def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's keys")] = None,
    json_out: Json = False,
) -> None:
    """List keys by public prefix and state (never the secret)."""
    now = datetime.now(UTC)
    rows = [key_dict(k, now) for k in with_database(lambda *_: key_admin.list_keys(tenant))]
    if json_out:
        print_json(rows)
        return
    print_table(
        rows, ["prefix", "tenant", "name", "state", "expires_at", "last_used_at", "created_at"]
    )


@app.command("update-key")
def update_key(
    prefix: Annotated[str, typer.Option("--prefix", help="public prefix of the key to change")],
    rpm: Rpm = None,
    tpm: Tpm = None,
    concurrent: Concurrent = None,
    daily_budget: Daily = None,
    monthly_budget: Monthly = None,
    total_budget: Total = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", help="drop an override (repeatable), e.g. --unset rpm"),
    ] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="comma-separated subset of the tenant's models")
    ] = None,
    all_tenant_models: Annotated[
        bool, typer.Option("--all-tenant-models", help="drop the key's model subset")
    ] = False,
    expires: Annotated[
        str | None, typer.Option("--expires", help="30d, 12h or a date/ISO time")
    ] = None,
    log_prompts: KeyLogPrompts = None,
    prompt_retention_days: KeyPromptRetention = None,
    json_out: Json = False,
) -> None:
    """Change a key's limits, budgets, models or expiry (only narrowing its tenant; live in 2 s)."""
    given = _limits(rpm, tpm, concurrent, daily_budget, monthly_budget, total_budget)
    limits = _given(given)

    async def action(_: Settings, __: Database) -> KeyRecord:
        expires_at = parse_when(expires, datetime.now(UTC)) if expires else None
        return await key_admin.update_key(
            prefix,
            limits,
            tuple(u.replace("-", "_") for u in unset or ()),
            _model_list(models),
            all_tenant_models,
            expires_at,
            log_prompts,
            prompt_retention_days,
        )

    record = with_database(action)
    if json_out:
        print_json(key_dict(record, datetime.now(UTC)))
    else:
        typer.echo(f"updated key {record.prefix}")


@app.command()
def usage(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="one tenant (and its keys)")
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="one key, by public prefix")] = None,
    period: Annotated[str, typer.Option("--period", help="day, month or total (UTC)")] = "day",
    json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="print CSV for spreadsheets")] = False,
) -> None:
    """Token usage per tenant or key, per UTC day, month or in total (settled tokens)."""
    lines = with_database(lambda *_: usage_admin.usage_report(tenant, key, period))
    rows = [{**dataclasses.asdict(line), "total_tokens": line.total_tokens} for line in lines]
    columns = [
        "scope",
        "name",
        "tenant",
        "period_start",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    ]
    if json_out:
        print_json(rows)
    elif csv_out:
        _print_csv(rows, columns)
    else:
        print_table(rows, columns)


@app.command()
def audit(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="only this tenant's requests")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="only this key's requests (public prefix)")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d or a date/ISO time")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="a date/ISO time (exclusive)")
    ] = None,
    status: Annotated[int | None, typer.Option("--status", help="only this HTTP status")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="at most this many rows, newest first")
    ] = 100,
    json_out: Json = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="print CSV for spreadsheets")] = False,
) -> None:
    """Show audit rows: every request, served or refused (never a key, only its prefix)."""

    async def action(_: Settings, __: Database) -> list[dict[str, object]]:
        now = datetime.now(UTC)
        return await audit_admin.audit_report(
            tenant,
            key,
            parse_ago(since, now) if since else None,
            parse_when(until, now) if until else None,
            status,
            limit,
        )

    rows = with_database(action)
    if json_out:
        print_json(rows)
    elif csv_out:
        _print_csv(rows, list(audit_admin.AUDIT_FIELDS))
    else:
        print_table(
            rows,
            [
                "created_at",
                "request_id",
                "tenant",
                "key_prefix",
                "method",
                "path",
                "model",
                "status",
                "error_code",
                "prompt_tokens",
                "completion_tokens",
                "latency_ms",
            ],
        )


@app.command()
def purge(json_out: Json = False) -> None:
    """Delete audit rows and prompt logs past their retention (the server also does this hourly)."""
    audit_rows, prompt_logs = with_database(lambda *_: audit_admin.purge())
    if json_out:
        print_json({"audit_rows": audit_rows, "prompt_logs": prompt_logs})
    else:
        typer.echo(f"purged {audit_rows} audit rows and {prompt_logs} prompt logs")


def _print_csv(rows: list[dict[str, object]], columns: list[str]) -> None:
    writer = csv.DictWriter(
        sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


@app.command("revoke-key")
def revoke_key(
    prefix: Annotated[str, typer.Option("--prefix", help="public prefix, e.g. nz_abc12345")],
    json_out: Json = False,
) -> None:
    """Revoke a key; every instance refuses it within 2 s."""
    record = with_database(lambda *_: key_admin.revoke_key(prefix))
    if json_out:
        print_json(key_dict(record, datetime.now(UTC)))
    else:
        typer.echo(f"revoked key {record.prefix}")


@app.command("rotate-key")
def rotate_key(
    prefix: Annotated[str, typer.Option("--prefix", help="public prefix of the key to replace")],
    grace: Annotated[
        str, typer.Option("--grace", help="how long the old key keeps working (e.g. 24h, 7d)")
    ] = "24h",
    json_out: Json = False,
) -> None:
    """Issue a successor key with the same settings; the old one expires after the grace period."""

    async def action(config: Settings, _: Database) -> tuple[key_admin.IssuedKey, object]:
        return await key_admin.rotate_key(
            KeyHasher.from_settings(config), prefix, parse_duration(grace)
        )

    issued, _old = with_database(action)
    if not json_out:
        typer.echo(f"old key {prefix} stops working in {grace}")
    _show_issued(issued, json_out)


@app.command()
def version(json_out: Json = False) -> None:
    """Print the gateway's version."""
    if json_out:
        print_json({"version": __version__, "python": sys.version.split()[0]})
    else:
        typer.echo(f"neuronetz-gateway {__version__}")


@app.command("mock-ollama")
def mock_ollama(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 11434,
    token_delay: Annotated[float, typer.Option(help="seconds between streamed tokens")] = 0.0,
) -> None:
    """Run the mock Ollama (demo and tests): Ollama's API with deterministic answers."""
    from neuronetz_gateway.demo.mock_ollama import serve as serve_mock

    serve_mock(host=host, port=port, token_delay_s=token_delay)


@app.command()
def doctor(
    json_out: Json = False,
    compose_file: Annotated[
        Path | None,
        typer.Option(
            "--compose-file",
            help="compose file to inspect (default: docker-compose.yml beside the env file)",
        ),
    ] = None,
) -> None:
    """Check the deployment and prove that Ollama is not reachable from outside."""
    from neuronetz_gateway.doctor.facts import RealHostFacts
    from neuronetz_gateway.doctor.runner import run_doctor

    env_file = _env_file or default_env_file()
    compose = compose_file or (env_file.parent if env_file else Path()) / "docker-compose.yml"
    findings = asyncio.run(run_doctor(os.environ, env_file, compose, RealHostFacts()))
    if json_out:
        print_json({"checks": [dataclasses.asdict(f) for f in findings]})
    else:
        for finding in findings:
            typer.echo(f"{finding.status:<5} {finding.name}: {finding.message}")
            if finding.status != "PASS" and finding.fix:
                typer.echo(f"      fix: {finding.fix}")
    if any(f.status == "FAIL" for f in findings):
        raise typer.Exit(1)


def _env_file_for_edits() -> Path:
    return _env_file or Path(".env")


@app.command("list-backends")
def list_backends(json_out: Json = False) -> None:
    """List the configured Ollama backends (OLLAMA_BACKENDS, else OLLAMA_BASE_URL)."""
    rows = [{"name": b.name, "url": b.url} for b in settings().backends]
    if json_out:
        print_json(rows)
    else:
        print_table(rows, ["name", "url"])


@app.command("add-backend")
def add_backend(
    url: Annotated[str, typer.Argument(help="the backend's base URL, e.g. http://10.0.0.5:11434")],
    name: Annotated[
        str | None, typer.Option("--name", help="short name (default host:port)")
    ] = None,
) -> None:
    """Add a backend to OLLAMA_BACKENDS in the env file (restart the gateway to use it)."""
    _edit_backends(
        lambda config: backend_admin.add_backend(config, _env_file_for_edits(), url, name)
    )


@app.command("remove-backend")
def remove_backend(
    backend: Annotated[str, typer.Argument(help="the backend's name or URL")],
) -> None:
    """Remove a backend from OLLAMA_BACKENDS in the env file (restart the gateway to apply)."""
    _edit_backends(
        lambda config: backend_admin.remove_backend(config, _env_file_for_edits(), backend)
    )


def _edit_backends(edit: Callable[[Settings], backend_admin.BackendChange]) -> None:
    try:
        change = edit(settings())
    except backend_admin.EnvFileLocked as exc:
        typer.echo(f"error: {exc}", err=True)
        typer.echo(
            "Either re-run as a user who may write it (in the container: "
            "`docker compose exec -u root gateway neuronetz-gateway …`),",
            err=True,
        )
        typer.echo(f"or put this line into {exc.path} by hand:", err=True)
        typer.echo(f"  {exc.line}", err=True)
        raise typer.Exit(1) from None
    except AdminError as exc:
        fail(str(exc))
    typer.echo(f"wrote {change.line} to {_env_file_for_edits()}")
    typer.echo(
        "restart the gateway to use it (systemctl restart neuronetz-gateway / "
        "docker compose restart gateway)"
    )


def main() -> None:
    """Console-script entry point."""
    app()
