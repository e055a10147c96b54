"""Docs stay true: every setting and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from neuronetz_gateway.cli.main import app
from neuronetz_gateway.config import setting_infos

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_configuration_doc() -> None:
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    missing = [s.env for s in setting_infos() if f"`{s.env}`" not in doc]
    assert missing == []


def test_every_cli_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [
        c.name or c.callback.__name__.replace("_", "-")
        for c in app.registered_commands
        if c.callback
    ]
    assert len(commands) >= 10
    missing = [name for name in commands if f"| `{name}" not in readme]
    assert missing == []


def test_readme_leads_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "./demo.sh" in first_block and "./scripts/check" in first_block
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec ./scripts/check")
