"""Settings: every environment variable of SPEC §9, its default, its help, and its validation.

`load_settings(environ, env_file)` is the only way to build `Settings`; it collects *every*
problem before failing so an operator fixes a broken configuration in one pass. Nothing here
runs at import time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """Configuration is invalid; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Backend:
    """One Ollama backend: a short name (for logs and the CLI) and its base URL."""

    name: str
    url: str


# -- parsers: text -> value, raising ValueError with a message that completes "must be ..." --


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(_range_text("an integer", low, high)) from None
        if value < low or (high is not None and value > high):
            raise ValueError(_range_text("an integer", low, high))
        return value

    return parse


def _float(low: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"a number > {low:g}") from None
        if not value > low:
            raise ValueError(f"a number > {low:g}")
        return value

    return parse


def _range_text(kind: str, low: int, high: int | None) -> str:
    return f"{kind} between {low} and {high}" if high is not None else f"{kind} >= {low}"


def _choice(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.upper() if upper else text.lower()
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    return parse


def _text(text: str) -> str:
    return text


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _header_name(text: str) -> str:
    if not _HEADER_NAME.match(text):
        raise ValueError("a valid HTTP header name")
    return text


def _networks(text: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for item in _split_commas(text):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"a comma-separated list of IPs or CIDRs ({item!r} is neither)"
            ) from None
    return tuple(networks)


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("an http:// or https:// URL with a valid port") from None
    return text.rstrip("/")


def _backends(text: str) -> tuple[Backend, ...]:
    backends: list[Backend] = []
    for item in _split_commas(text):
        name, sep, url = item.partition("=")
        if not sep:
            name, url = "", item
        url = _http_url(url.strip())
        name = name.strip() or _default_backend_name(url)
        if not re.match(r"^[A-Za-z0-9_.:-]+$", name):
            raise ValueError(f"a list of [name=]URL items (bad name {name!r})")
        if any(b.name == name for b in backends):
            raise ValueError(f"a list of backends with distinct names ({name!r} repeats)")
        backends.append(Backend(name=name, url=url))
    return tuple(backends)


def parse_backends(text: str) -> tuple[Backend, ...]:
    """`[name=]URL,…` as OLLAMA_BACKENDS reads it (ValueError completes "must be …")."""
    return _backends(text)


def _default_backend_name(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _database_url(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("postgresql", "postgresql+asyncpg", "postgres"):
        raise ValueError(
            "a postgresql:// or postgresql+asyncpg:// URL (unset means embedded SQLite)"
        )
    return "postgresql://" + rest


def _redis_url(text: str) -> str:
    if urlsplit(text).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("a redis://, rediss:// or unix:// URL")
    return text


def _split_commas(text: str) -> Iterator[str]:
    return (item.strip() for item in text.split(",") if item.strip())


def setting(
    env: str,
    default: Any,
    help: str,
    parse: Callable[[str], Any],
    group: str,
    secret: bool = False,
) -> Any:
    """Declare one setting: its environment name, default, help text and parser."""
    meta = {"env": env, "help": help, "parse": parse, "group": group, "secret": secret}
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration of one gateway process."""

    # service
    bind_host: str = setting(
        "GATEWAY_BIND_HOST",
        "127.0.0.1",
        "address to listen on (0.0.0.0 only in containers)",
        _text,
        "service",
    )
    bind_port: int = setting(
        "GATEWAY_BIND_PORT", 8080, "port to listen on", _int(1, 65535), "service"
    )
    log_level: str = setting(
        "GATEWAY_LOG_LEVEL",
        "INFO",
        "DEBUG, INFO, WARNING, ERROR or CRITICAL",
        _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True),
        "service",
    )
    log_format: str = setting(
        "GATEWAY_LOG_FORMAT",
        "console",
        "console (humans) or json (one JSON object per line)",
        _choice("console", "json"),
        "service",
    )
    request_id_header: str = setting(
        "GATEWAY_REQUEST_ID_HEADER",
        "X-Request-ID",
        "header carrying the request id in and out",
        _header_name,
        "service",
    )
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "GATEWAY_TRUSTED_PROXIES",
        _networks("127.0.0.1"),
        "IPs/CIDRs whose X-Forwarded-For is believed (comma-separated)",
        _networks,
        "service",
    )
    state_dir: str = setting(
        "GATEWAY_STATE_DIR",
        "state",
        "directory of the embedded SQLite database (systemd: /var/lib/neuronetz-gateway)",
        _text,
        "service",
    )
    playground: bool = setting(
        "GATEWAY_PLAYGROUND",
        False,
        "serve the demo chat page at /playground (keep off in production)",
        _bool,
        "service",
    )
    # upstream
    ollama_base_url: str = setting(
        "OLLAMA_BASE_URL",
        "http://127.0.0.1:11434",
        "the single Ollama backend (when OLLAMA_BACKENDS is unset)",
        _http_url,
        "upstream",
    )
    ollama_backends: tuple[Backend, ...] = setting(
        "OLLAMA_BACKENDS",
        (),
        "comma-separated [name=]URL list of Ollama backends; overrides OLLAMA_BASE_URL",
        _backends,
        "upstream",
    )
    ollama_connect_timeout_s: float = setting(
        "OLLAMA_CONNECT_TIMEOUT_S", 5.0, "seconds to connect to a backend", _float(0), "upstream"
    )
    ollama_read_timeout_s: float = setting(
        "OLLAMA_READ_TIMEOUT_S",
        600.0,
        "seconds to wait for each piece of a backend's answer",
        _float(0),
        "upstream",
    )
    ollama_max_connections: int = setting(
        "OLLAMA_MAX_CONNECTIONS",
        64,
        "connection pool size towards the backends",
        _int(1),
        "upstream",
    )
    # discovery
    model_discovery_refresh_s: float = setting(
        "MODEL_DISCOVERY_REFRESH_S",
        60.0,
        "seconds between polls of each backend's /api/tags",
        _float(0),
        "discovery",
    )
    model_discovery_cache_ttl_s: float = setting(
        "MODEL_DISCOVERY_CACHE_TTL_S",
        120.0,
        "seconds a discovered model set stays valid in Redis",
        _float(0),
        "discovery",
    )
    # database
    database_url: str | None = setting(
        "DATABASE_URL",
        None,
        "postgresql:// URL; unset means the embedded SQLite file in GATEWAY_STATE_DIR",
        _database_url,
        "database",
        secret=True,
    )
    database_pool_size: int = setting(
        "DATABASE_POOL_SIZE", 10, "Postgres connections kept open", _int(1), "database"
    )
    database_pool_overflow: int = setting(
        "DATABASE_POOL_OVERFLOW",
        20,
        "extra Postgres connections opened under load",
        _int(0),
        "database",
    )
    # redis
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "redis:// URL; unset means in-process limits and caches (one process only)",
        _redis_url,
        "redis",
        secret=True,
    )
    redis_key_cache_ttl_s: int = setting(
        "REDIS_KEY_CACHE_TTL_S",
        60,
        "seconds a verified key stays cached in Redis",
        _int(1),
        "redis",
    )
    # limits
    default_rpm: int = setting(
        "DEFAULT_RPM",
        60,
        "requests per minute when neither tenant nor key sets one",
        _int(1),
        "limits",
    )
    default_tpm: int = setting(
        "DEFAULT_TPM",
        100000,
        "tokens per minute when neither tenant nor key sets one",
        _int(1),
        "limits",
    )
    default_concurrent: int = setting(
        "DEFAULT_CONCURRENT",
        8,
        "in-flight requests when neither tenant nor key sets one",
        _int(1),
        "limits",
    )
    max_request_body_bytes: int = setting(
        "MAX_REQUEST_BODY_BYTES",
        262144,
        "largest accepted request body (413 above)",
        _int(1),
        "limits",
    )
    max_num_predict: int = setting(
        "MAX_NUM_PREDICT",
        4096,
        "cap on completion tokens (num_predict / max_tokens)",
        _int(1),
        "limits",
    )
    max_num_ctx: int = setting(
        "MAX_NUM_CTX",
        8192,
        "cap on options.num_ctx (each distinct value reloads the model)",
        _int(256),
        "limits",
    )
    max_keep_alive_s: int = setting(
        "MAX_KEEP_ALIVE_S",
        0,
        "0 ignores clients' keep_alive; above 0 clamps it into 1..N seconds",
        _int(0),
        "limits",
    )
    max_image_bytes: int = setting(
        "MAX_IMAGE_BYTES",
        10485760,
        "largest decoded base64 image accepted in a request",
        _int(1),
        "limits",
    )
    # security
    argon2_time_cost: int = setting(
        "ARGON2_TIME_COST", 3, "Argon2id iterations for key hashes", _int(1, 100), "security"
    )
    argon2_memory_cost_kib: int = setting(
        "ARGON2_MEMORY_COST_KIB",
        65536,
        "Argon2id memory in KiB for key hashes",
        _int(8, 4194304),
        "security",
    )
    argon2_parallelism: int = setting(
        "ARGON2_PARALLELISM", 4, "Argon2id lanes for key hashes", _int(1, 64), "security"
    )
    auth_failure_rate_limit_per_ip_per_min: int = setting(
        "AUTH_FAILURE_RATE_LIMIT_PER_IP_PER_MIN",
        20,
        "failed authentications per client IP per minute before 429",
        _int(1),
        "security",
    )
    # audit
    audit_buffer_size: int = setting(
        "AUDIT_BUFFER_SIZE",
        1000,
        "audit rows held in memory before deny mode (503)",
        _int(1),
        "audit",
    )
    prompt_log_default_retention_days: int = setting(
        "PROMPT_LOG_DEFAULT_RETENTION_DAYS", 30, "days prompt logs are kept", _int(1), "audit"
    )
    metrics: bool = setting(
        "GATEWAY_METRICS", False, "serve Prometheus metrics at /metrics", _bool, "audit"
    )
    metrics_allow: tuple[IPNetwork, ...] = setting(
        "GATEWAY_METRICS_ALLOW",
        _networks("127.0.0.1,::1"),
        "client IPs/CIDRs allowed to read /metrics (others get 404)",
        _networks,
        "audit",
    )
    audit_log_default_retention_days: int = setting(
        "AUDIT_LOG_DEFAULT_RETENTION_DAYS", 365, "days audit rows are kept", _int(1), "audit"
    )
    # compose only: read so that `doctor` can judge them; the gateway itself does not use them
    postgres_password: str | None = setting(
        "POSTGRES_PASSWORD",
        None,
        "password of the compose stack's Postgres (required there)",
        _text,
        "compose",
        secret=True,
    )
    virtual_host: str | None = setting(
        "GATEWAY_VIRTUAL_HOST",
        None,
        "public host name nginx-proxy routes to the gateway",
        _text,
        "compose",
    )
    letsencrypt_email: str | None = setting(
        "LETSENCRYPT_EMAIL", None, "contact address for the ACME certificate", _text, "compose"
    )

    @property
    def backends(self) -> tuple[Backend, ...]:
        """The configured backends: OLLAMA_BACKENDS, else the single OLLAMA_BASE_URL."""
        if self.ollama_backends:
            return self.ollama_backends
        return (Backend(name="default", url=self.ollama_base_url),)

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives."""
        return Path(self.state_dir) / "neuronetz-gateway.sqlite3"


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One setting as documentation sees it."""

    env: str
    default: Any
    help: str
    group: str
    secret: bool


def setting_infos() -> list[SettingInfo]:
    """Every setting, in declaration order, for docs and `.env.example` checks."""
    return [
        SettingInfo(
            env=f.metadata["env"],
            default=f.default,
            help=f.metadata["help"],
            group=f.metadata["group"],
            secret=f.metadata["secret"],
        )
        for f in fields(Settings)
    ]


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a dotenv file: KEY=VALUE lines, `export` prefixes, comments and quotes."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the env file ({type(exc).__name__})"]) from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ConfigError([f"{path}:{number}: expected KEY=VALUE, got {raw.strip()[:40]!r}"])
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value.split(" #", 1)[0].rstrip()


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Build Settings from an env file overlaid by the environment; ConfigError lists all problems.

    `environ=None` means `os.environ`; `env_file`, when given, must exist.
    """
    environ = os.environ if environ is None else environ
    source: dict[str, str] = {}
    if env_file is not None:
        try:
            exists = env_file.is_file()
        except OSError as exc:  # e.g. a directory on the way is not ours to enter
            raise ConfigError(
                [f"{env_file}: cannot read the env file ({type(exc).__name__})"]
            ) from None
        if not exists:
            raise ConfigError([f"env file {env_file} does not exist"])
        source.update(read_env_file(env_file))
    source.update(environ)

    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in fields(Settings):
        raw = source.get(f.metadata["env"], "").strip()
        if not raw:
            continue  # unset or empty: keep the default
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            shown = "<hidden>" if f.metadata["secret"] else repr(raw[:80])
            problems.append(f"{f.metadata['env']}: must be {exc}, got {shown}")
    if problems:
        raise ConfigError(problems)
    settings = Settings(**values)
    problems.extend(_cross_checks(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def default_env_file() -> Path | None:
    """`.env` in the working directory, when there is one (SPEC §9)."""
    path = Path(".env")
    return path if path.is_file() else None


def _cross_checks(settings: Settings) -> list[str]:
    problems = []
    if settings.argon2_memory_cost_kib < 8 * settings.argon2_parallelism:
        problems.append(
            "ARGON2_MEMORY_COST_KIB: must be at least 8 x ARGON2_PARALLELISM "
            f"({8 * settings.argon2_parallelism}), got {settings.argon2_memory_cost_kib}"
        )
    return problems
