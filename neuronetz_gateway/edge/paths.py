"""Step 3: path normalization, so no spelling of a mutation path can reach a backend (SPEC §4).

The raw path is percent-decoded until it stops changing (so `%252e` is caught), backslashes count
as slashes, duplicate slashes collapse, dot segments resolve without climbing above the root and a
trailing slash drops. Routing and blocking compare the result case-folded; upstream calls use the
route's own canonical path, never the client's spelling.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

MUTATION_PATHS = frozenset({"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"})
BLOB_PREFIX = "/api/blobs"
_MAX_DECODE_ROUNDS = 4


class UndecodablePath(ValueError):
    """The path is not valid UTF-8 after decoding, or hides NUL/control bytes."""


def normalize_path(raw: bytes) -> str:
    """The canonical form of a raw request path (query string excluded)."""
    path = raw.split(b"?", 1)[0]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote_to_bytes(path)
        if decoded == path:
            break
        path = decoded
    else:
        raise UndecodablePath("path is encoded too many times")
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        raise UndecodablePath("path is not valid UTF-8") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UndecodablePath("path contains control characters")
    segments: list[str] = []
    for segment in text.replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def is_blocked(path: str) -> bool:
    """True for every model-mutation path (any case); answered 403 for everyone, always."""
    path = path.lower()
    return path in MUTATION_PATHS or path == BLOB_PREFIX or path.startswith(BLOB_PREFIX + "/")
