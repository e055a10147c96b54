"""Step 1: the request id, accepted from the client when well-formed, else generated."""

from __future__ import annotations

import re
import uuid

# Printable, header-safe and short: anything else could smuggle text into logs or headers.
_WELL_FORMED = re.compile(rb"^[A-Za-z0-9._:+=/-]{8,128}$")


def request_id(presented: bytes | None) -> str:
    """The client's id when it is well-formed, otherwise a fresh random one."""
    if presented and _WELL_FORMED.match(presented):
        return presented.decode("ascii")
    return uuid.uuid4().hex
