"""The API key format (SPEC §5), as pure functions without I/O.

    nz_ PPPPPPPP SSSS…(43) CCCCCC
    |   |        |         └ checksum: CRC32 of everything before it, base62, 6 characters
    |   |        └ secret: 43 base62 characters = 256 bits from the OS CSPRNG
    |   └ public prefix: 8 base62 characters (with "nz_" the 11-character lookup index)
    └ marker that lets secret scanners find leaked keys

Letters and digits only, so a double-click selects the whole key. The checksum lets the gateway
(and scanners) reject typos and made-up keys without touching the database or Argon2.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MARKER = "nz_"
PREFIX_CHARS = 8
SECRET_CHARS = 43  # 62**43 > 2**256
CHECKSUM_CHARS = 6  # 62**6 > 2**32
KEY_LENGTH = len(MARKER) + PREFIX_CHARS + SECRET_CHARS + CHECKSUM_CHARS
PUBLIC_PREFIX_LENGTH = len(MARKER) + PREFIX_CHARS

_KEY_SHAPE = re.compile(rf"^{MARKER}[0-9A-Za-z]{{{KEY_LENGTH - len(MARKER)}}}$")
_PREFIX_SHAPE = re.compile(rf"^{MARKER}[0-9A-Za-z]{{{PREFIX_CHARS}}}$")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A well-formed key split into its public prefix and the whole token."""

    prefix: str
    token: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_CHARS):
        value, rest = divmod(value, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits))


def generate_key() -> ParsedKey:
    """Make a fresh key; the caller shows `token` once and stores only its hash."""
    body = MARKER + _random_base62(PREFIX_CHARS) + _random_base62(SECRET_CHARS)
    token = body + _checksum(body)
    return ParsedKey(prefix=token[:PUBLIC_PREFIX_LENGTH], token=token)


def parse_key(token: str) -> ParsedKey | None:
    """Return the parsed key, or None when the shape or checksum is wrong (no I/O, no hashing)."""
    if len(token) != KEY_LENGTH or not _KEY_SHAPE.match(token):
        return None
    body, checksum = token[:-CHECKSUM_CHARS], token[-CHECKSUM_CHARS:]
    if not secrets.compare_digest(_checksum(body), checksum):
        return None
    return ParsedKey(prefix=token[:PUBLIC_PREFIX_LENGTH], token=token)


def is_public_prefix(text: str) -> bool:
    """True for a well-formed public prefix such as `nz_abc12345`."""
    return bool(_PREFIX_SHAPE.match(text))
