"""Model names: validation and the `:latest` normalization (SPEC §7)."""

from __future__ import annotations

import re

# Ollama names look like `namespace/model:tag` or `host/namespace/model:tag`; we accept the
# characters those use and refuse anything that could act as a path or control sequence.
_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){0,2}(:[A-Za-z0-9][A-Za-z0-9._-]*)?$"
)
MAX_NAME_LENGTH = 200


class BadModelName(ValueError):
    """A model name with path, control or otherwise disallowed characters."""


def normalize_model(name: str) -> str:
    """Validate `name` and return it with an implicit `:latest` tag made explicit."""
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME.match(name) or ".." in name:
        raise BadModelName(f"invalid model name {name[:80]!r}")
    return name if ":" in name else f"{name}:latest"


def is_cloud_model(name: str) -> bool:
    """Ollama's cloud models forward prompts to a third party (`…:cloud`, `…-cloud` tags)."""
    tag = name.rpartition(":")[2]
    return tag == "cloud" or tag.endswith("-cloud")
