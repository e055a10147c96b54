"""Run every doctor check in order; the I/O checks (database, Redis, backends, Docker) live here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import httpx

from neuronetz_gateway.config import ConfigError, Settings, load_settings
from neuronetz_gateway.db.engine import DatabaseUnavailable, open_database
from neuronetz_gateway.db.migrate import pending_migrations
from neuronetz_gateway.doctor import checks
from neuronetz_gateway.doctor.checks import FAIL, PASS, WARN, Finding
from neuronetz_gateway.doctor.facts import HostFacts
from neuronetz_gateway.runtime import open_redis


async def run_doctor(
    environ: Mapping[str, str], env_file: Path | None, compose_file: Path, facts: HostFacts
) -> list[Finding]:
    """Every check, in order; a broken configuration stops after saying so."""
    try:
        settings = load_settings(environ, env_file)
    except ConfigError as exc:
        return [Finding("configuration", FAIL, "; ".join(exc.problems), "fix the listed variables")]
    findings = [Finding("configuration", PASS, "every setting is valid")]
    findings.append(await database(settings))
    findings.append(await redis(settings))
    findings.extend(await backends(settings))
    findings += [
        checks.backend_addresses(settings),
        checks.ollama_listeners(settings, facts),
        checks.host_address_refusal(settings, facts),
        checks.ollama_host_env(facts),
        checks.compose_file(compose_file, facts),
        checks.docker_ports(facts),
        checks.gateway_bind(settings, facts),
        checks.weak_secrets(settings),
        checks.argon2_cost(settings),
        checks.trusted_proxies(settings),
        checks.state_dir(settings, facts),
    ]
    return findings


async def database(settings: Settings) -> Finding:
    try:
        db = await open_database(settings, pool=False)
    except DatabaseUnavailable as exc:
        return Finding(
            "database", FAIL, f"unreachable: {exc}", "check DATABASE_URL and that the server runs"
        )
    try:
        await db.ping()
        pending = await pending_migrations(db)
    except DatabaseUnavailable as exc:
        return Finding(
            "database", FAIL, f"unreachable: {exc}", "check DATABASE_URL and that the server runs"
        )
    finally:
        await db.close()
    if pending:
        return Finding(
            "database",
            FAIL,
            f"{db.kind} reachable, migrations pending: {', '.join(pending)}",
            "run `neuronetz-gateway migrate`",
        )
    return Finding("database", PASS, f"{db.kind} at {db.where} reachable, migrations current")


async def redis(settings: Settings) -> Finding:
    client = open_redis(settings)
    if client is None:
        return Finding(
            "redis", PASS, "not configured (embedded mode: limits in process, one worker)"
        )
    try:
        await client.ping()
        return Finding("redis", PASS, "reachable")
    except Exception as exc:
        return Finding(
            "redis",
            FAIL,
            f"unreachable ({type(exc).__name__})",
            "check REDIS_URL and that Redis runs",
        )
    finally:
        await client.aclose()


async def backends(settings: Settings) -> list[Finding]:
    async with httpx.AsyncClient(
        timeout=settings.ollama_connect_timeout_s, trust_env=False
    ) as client:
        return list(
            await asyncio.gather(*(_backend(client, b.name, b.url) for b in settings.backends))
        )


async def _backend(client: httpx.AsyncClient, name: str, url: str) -> Finding:
    try:
        version = (await client.get(f"{url}/api/version")).json().get("version", "?")
        models = (await client.get(f"{url}/api/tags")).json().get("models") or []
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Finding(
            f"backend {name}",
            FAIL,
            f"{url} does not answer ({type(exc).__name__})",
            "start Ollama or fix OLLAMA_BACKENDS / OLLAMA_BASE_URL",
        )
    if not models:
        return Finding(
            f"backend {name}",
            WARN,
            f"Ollama {version} answers but has no models",
            "pull a model on the backend host (never through the gateway)",
        )
    return Finding(f"backend {name}", PASS, f"Ollama {version} answers with {len(models)} models")
