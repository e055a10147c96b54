"""Times and durations as operators type them: `30d`, `12h`, `2027-01-31`, ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from neuronetz_gateway.admin.errors import AdminError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d`, `2w` -> timedelta."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise AdminError(f"invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 30d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_when(text: str, now: datetime) -> datetime:
    """A point in time: a duration from now (`30d`), a date or an ISO datetime (UTC if naive)."""
    if _DURATION.match(text.strip().lower()):
        return now + parse_duration(text)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AdminError(
            f"invalid time {text!r}: use a duration like 30d or a date like 2027-01-31"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_ago(text: str, now: datetime) -> datetime:
    """Like parse_when, but a bare duration counts back from now (`--since 24h`)."""
    if _DURATION.match(text.strip().lower()):
        return now - parse_duration(text)
    return parse_when(text, now)
