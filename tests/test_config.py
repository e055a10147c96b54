"""Settings: defaults, env file, precedence, and one readable line per problem (SPEC §9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neuronetz_gateway.config import Backend, ConfigError, load_settings


def test_defaults_match_the_spec() -> None:
    settings = load_settings({})
    assert (settings.bind_host, settings.bind_port) == ("127.0.0.1", 8080)
    assert settings.database_url is None and settings.redis_url is None
    assert (settings.default_rpm, settings.default_tpm, settings.default_concurrent) == (
        60,
        100000,
        8,
    )
    assert (settings.max_request_body_bytes, settings.max_num_predict) == (262144, 4096)
    assert (
        settings.argon2_time_cost,
        settings.argon2_memory_cost_kib,
        settings.argon2_parallelism,
    ) == (3, 65536, 4)
    assert settings.backends == (Backend("default", "http://127.0.0.1:11434"),)


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "GATEWAY_BIND_PORT": "70000",
                "DEFAULT_RPM": "many",
                "GATEWAY_LOG_FORMAT": "xml",
                "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip",
                "OLLAMA_BASE_URL": "ftp://x",
                "DATABASE_URL": "mysql://root:hunter2@db/x",
            }
        )
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "GATEWAY_BIND_PORT",
        "GATEWAY_LOG_FORMAT",
        "GATEWAY_TRUSTED_PROXIES",
        "OLLAMA_BASE_URL",
        "DATABASE_URL",
        "DEFAULT_RPM",
    ]
    assert "between 1 and 65535" in problems[0]
    assert all("hunter2" not in p for p in problems), "secrets never echo back"


def test_argon2_memory_must_cover_its_lanes() -> None:
    with pytest.raises(ConfigError, match="ARGON2_MEMORY_COST_KIB"):
        load_settings({"ARGON2_MEMORY_COST_KIB": "16", "ARGON2_PARALLELISM": "4"})


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "gateway.env"
    env_file.write_text(
        "# comment\nexport GATEWAY_BIND_PORT=9000\nDEFAULT_RPM='120'\nDATABASE_URL=\n"
        'OLLAMA_BACKENDS="gpu1=http://10.0.0.5:11434,http://10.0.0.6:11434"\n'
    )
    settings = load_settings({"DEFAULT_RPM": "30"}, env_file=env_file)
    assert settings.bind_port == 9000
    assert settings.default_rpm == 30
    assert settings.database_url is None  # empty means unset
    assert settings.backends == (
        Backend("gpu1", "http://10.0.0.5:11434"),
        Backend("10.0.0.6:11434", "http://10.0.0.6:11434"),
    )


def test_asyncpg_style_database_url_is_accepted() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/gw"})
    assert settings.database_url == "postgresql://u:p@db:5432/gw"


def test_missing_env_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, env_file=tmp_path / "nope.env")


def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_BIND_PORT": "0", "DEFAULT_TPM": "-5"}
    result = subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "list-tenants"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: invalid configuration:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "GATEWAY_BIND_PORT",
        "DEFAULT_TPM",
    ]
    assert "Traceback" not in result.stderr
