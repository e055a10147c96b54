"""Backends from the CLI: edit OLLAMA_BACKENDS in the env file atomically (temp file + rename).

A file the CLI cannot write (e.g. host-owned and bind-mounted into the container, where the CLI
runs as uid 10001) is not an error to hide behind a traceback: the caller gets `EnvFileLocked`
with the exact line to paste by hand.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from neuronetz_gateway.admin.errors import AdminError
from neuronetz_gateway.config import Backend, Settings, parse_backends

KEY = "OLLAMA_BACKENDS"


class EnvFileLocked(AdminError):
    """The env file cannot be written; `line` is what to put there by hand."""

    def __init__(self, path: Path, line: str, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.line = path, line


@dataclass(frozen=True, slots=True)
class BackendChange:
    """The backends after a change and the env-file line that says so."""

    backends: tuple[Backend, ...]
    line: str


def _line(backends: tuple[Backend, ...]) -> str:
    return f"{KEY}=" + ",".join(f"{b.name}={b.url}" for b in backends)


def add_backend(settings: Settings, env_file: Path, url: str, name: str | None) -> BackendChange:
    """Append a backend (keeping the current single OLLAMA_BASE_URL one as `default`)."""
    current = settings.backends
    item = f"{name}={url}" if name else url
    try:
        (new,) = parse_backends(item)
    except ValueError as exc:
        raise AdminError(f"invalid backend {item!r}: must be {exc}") from None
    if any(b.name == new.name or b.url == new.url for b in current):
        raise AdminError(f"backend {new.name} ({new.url}) is already configured")
    return _write(env_file, (*current, new))


def remove_backend(settings: Settings, env_file: Path, name_or_url: str) -> BackendChange:
    """Drop a backend by name or URL; the last one cannot go."""
    wanted = name_or_url.rstrip("/")
    kept = tuple(b for b in settings.backends if wanted not in (b.name, b.url))
    if len(kept) == len(settings.backends):
        raise AdminError(f"no backend named or at {name_or_url!r}")
    if not kept:
        raise AdminError("cannot remove the last backend: the gateway needs at least one")
    return _write(env_file, kept)


def _write(env_file: Path, backends: tuple[Backend, ...]) -> BackendChange:
    line = _line(backends)
    change = BackendChange(backends=backends, line=line)
    try:
        text = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
        lines = text.splitlines()
        replaced = False
        for index, existing in enumerate(lines):
            if existing.strip().removeprefix("export ").startswith(f"{KEY}="):
                lines[index], replaced = line, True
        if not replaced:
            lines.append(line)
        mode = stat.S_IMODE(env_file.stat().st_mode) if env_file.exists() else 0o600
        handle, temporary = tempfile.mkstemp(prefix=f".{env_file.name}.", dir=env_file.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
            os.chmod(temporary, mode)
            os.replace(temporary, env_file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise EnvFileLocked(env_file, line, exc.strerror or type(exc).__name__) from None
    return change
