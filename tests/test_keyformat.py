"""The key format: 256-bit base62 secret with a checksum, checked by a pure function (SPEC §5)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from neuronetz_gateway.auth.keyformat import (
    BASE62,
    KEY_LENGTH,
    SECRET_CHARS,
    generate_key,
    is_public_prefix,
    parse_key,
)

_io_events: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _io_events is not None and event.split(".")[0] in (
        "open",
        "socket",
        "sqlite3",
        "subprocess",
    ):
        _io_events.append(event)


sys.addaudithook(_audit)


@pytest.fixture
def io_events() -> Iterator[list[str]]:
    """Every file, socket, sqlite or subprocess event raised while the test body runs."""
    global _io_events
    _io_events = []
    try:
        yield _io_events
    finally:
        _io_events = None


def test_generated_key_has_the_documented_shape() -> None:
    key = generate_key()
    assert len(key.token) == KEY_LENGTH == 60
    assert key.token.startswith("nz_") and key.prefix == key.token[:11]
    assert all(c in BASE62 for c in key.token[3:])
    assert 62**SECRET_CHARS >= 2**256
    assert parse_key(key.token) == key


def test_keys_are_unique() -> None:
    assert len({generate_key().token for _ in range(200)}) == 200


def test_any_single_character_change_fails_the_checksum() -> None:
    token = generate_key().token
    for index in (3, 11, 30, len(token) - 1):
        replacement = "A" if token[index] != "A" else "B"
        assert parse_key(token[:index] + replacement + token[index + 1 :]) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "nz_",
        "sk-abc",
        "nz_" + "a" * 56,
        "nz_" + "a" * 58,
        "nz_" + "-" * 57,
        "NZ_" + "a" * 57,
        "nz_" + "a" * 56 + "\n",
        "nz_" + "ä" * 57,
    ],
)
def test_malformed_keys_are_refused(token: str) -> None:
    assert parse_key(token) is None


def test_refusing_bad_keys_does_no_io(io_events: list[str]) -> None:
    token = generate_key().token
    bad_checksum = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert parse_key(bad_checksum) is None
    assert parse_key("nz_short") is None
    assert io_events == []


def test_public_prefix_shape() -> None:
    assert is_public_prefix("nz_abc12345")
    assert not is_public_prefix("nz_abc1234")
    assert not is_public_prefix("nz_abc1234!")


def test_the_io_probe_itself_sees_file_access(io_events: list[str], tmp_path: object) -> None:
    with open(__file__, encoding="utf-8") as handle:
        handle.read(1)
    assert "open" in io_events
