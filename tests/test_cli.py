"""The CLI over the admin layer: lifecycle, exit codes, and the key shown exactly once."""

from __future__ import annotations

import asyncio
import json
import re

from typer.testing import CliRunner

from neuronetz_gateway.cli.main import app
from neuronetz_gateway.config import load_settings
from neuronetz_gateway.db.engine import open_database
from neuronetz_gateway.db.tables import ALL_TABLES

runner = CliRunner()
KEY = re.compile(r"nz_[0-9A-Za-z]{57}")


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_migrate_check_reports_pending_then_current(cli_env: dict[str, str]) -> None:
    assert cli("migrate", "--check")[0] == 1
    assert cli("migrate")[0] == 0
    code, out, _ = cli("migrate", "--check", "--json")
    assert code == 0 and json.loads(out) == {"pending": []}


def test_commands_refuse_an_unmigrated_database(cli_env: dict[str, str]) -> None:
    code, out, err = cli("list-tenants")
    assert code == 1 and out == ""
    assert (
        err.strip() == "error: the database schema is not current: run `neuronetz-gateway migrate`"
    )


def test_tenant_and_key_lifecycle(cli_env: dict[str, str]) -> None:
    cli("migrate")
    assert (
        cli("create-tenant", "--name", "acme", "--rpm", "100", "--models", "llama3.2,qwen3:8b")[0]
        == 0
    )
    code, out, _ = cli("list-tenants", "--json")
    assert json.loads(out)[0]["models"] == ["llama3.2:latest", "qwen3:8b"]

    code, out, _ = cli(
        "create-key", "--tenant", "acme", "--name", "server-1", "--expires", "30d", "--json"
    )
    created = json.loads(out)
    assert code == 0 and KEY.fullmatch(created["key"]) and created["state"] == "active"

    code, out, _ = cli("rotate-key", "--prefix", created["prefix"], "--grace", "1h", "--json")
    assert json.loads(out)["rotated_from"] == created["prefix"]
    assert cli("revoke-key", "--prefix", created["prefix"])[0] == 0
    code, out, _ = cli("list-keys", "--tenant", "acme", "--json")
    assert [k["state"] for k in json.loads(out)] == ["revoked", "active"]
    assert cli("update-tenant", "--name", "acme", "--tpm", "5000", "--disable")[0] == 0
    assert json.loads(cli("list-tenants", "--json")[1])[0]["disabled"] is True


def test_the_key_is_printed_once_and_stored_nowhere(cli_env: dict[str, str]) -> None:
    cli("migrate")
    cli("create-tenant", "--name", "acme")
    code, out, err = cli("create-key", "--tenant", "acme", "--name", "k")
    token = KEY.search(out)
    assert code == 0 and token is not None and "shown only this once" in err
    later = "".join(
        cli(*args)[1] + cli(*args)[2]
        for args in (("list-keys",), ("list-keys", "--json"), ("list-tenants", "--json"))
    )
    assert token.group() not in later
    assert token.group()[:11] in later  # the public prefix is what listings show
    assert token.group() not in asyncio.run(_dump_database(cli_env))
    assert token.group()[11:] not in asyncio.run(_dump_database(cli_env))


async def _dump_database(env: dict[str, str]) -> str:
    db = await open_database(load_settings(env))
    try:
        rows = [await table.select().run() for table in ALL_TABLES]
        return repr(rows)
    finally:
        await db.close()


def test_expected_failures_print_one_line_and_exit_1(cli_env: dict[str, str]) -> None:
    cli("migrate")
    cli("create-tenant", "--name", "acme", "--rpm", "10")
    cases = [
        (("create-tenant", "--name", "acme"), "error: tenant 'acme' already exists"),
        (("create-key", "--tenant", "ghost", "--name", "k"), "error: unknown tenant 'ghost'"),
        (("create-key", "--tenant", "acme", "--name", "k", "--rpm", "11"), "can only narrow"),
        (
            ("create-key", "--tenant", "acme", "--name", "k", "--expires", "soon"),
            "invalid time 'soon'",
        ),
        (("revoke-key", "--prefix", "nz_abc12345"), "error: unknown key nz_abc12345"),
        (("revoke-key", "--prefix", "bogus"), "invalid key prefix"),
        (("create-tenant", "--name", "x", "--models", "a", "--allow-all-models"), "choose either"),
    ]
    for args, message in cases:
        code, out, err = cli(*args)
        assert code == 1 and out == "", args
        assert message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_unreachable_database_is_one_line(cli_env: dict[str, str], monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    code, _, err = cli("list-tenants")
    assert (
        code == 1 and err.startswith("error: database unavailable:") and len(err.splitlines()) == 1
    )


def test_version() -> None:
    code, out, _ = cli("version", "--json")
    assert code == 0 and json.loads(out)["version"]
