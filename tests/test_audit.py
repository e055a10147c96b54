"""Nothing served unaudited: one row per request, deny mode, SIGTERM, prompt logs, metrics."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FAST_ARGON2, MockOllama, Stack, make_stack
from prometheus_client.parser import text_string_to_metric_families

from neuronetz_gateway.admin import keys
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.config import load_settings
from neuronetz_gateway.db.audit import query_prompts
from neuronetz_gateway.db.tables import ALL_TABLES, PromptLog

ROOT = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "tell me about doors"}]
CHAT = {"model": "llama3.2", "messages": PROMPT, "stream": False}


def audit_rows(stack: Stack, expected: int, timeout: float = 5) -> dict[str, dict[str, Any]]:
    """The stack's audit rows by request id, via the CLI, once `expected` of them are written."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(
            [sys.executable, "-m", "neuronetz_gateway", "audit", "--json", "--limit", "1000"],
            env={**stack.env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        rows = json.loads(result.stdout)
        if len(rows) >= expected or time.monotonic() > deadline:
            return {row["request_id"]: row for row in rows}
        time.sleep(0.2)


def _id(n: int) -> dict[str, str]:
    return {"X-Request-ID": f"audit-test-{n:04d}"}


def test_every_kind_of_request_leaves_exactly_one_correct_row(stack: Stack) -> None:
    url, key = stack.url, stack.headers
    httpx.post(f"{url}/api/chat", headers={**key, **_id(1)}, json=CHAT)
    with httpx.stream(
        "POST",
        f"{url}/v1/chat/completions",
        headers={**key, **_id(2)},
        json={"model": "llama3.2", "messages": PROMPT, "stream": True, "max_tokens": 5},
    ) as r:
        r.read()
    httpx.post(f"{url}/api/pull", headers=_id(3), json={"model": "llama3.2"})
    httpx.get(f"{url}/api/tags", headers={"Authorization": "Bearer nz_" + "x" * 57, **_id(4)})
    httpx.get(f"{url}/api/me", headers={**key, **_id(5)})
    httpx.post(
        f"{url}/api/chat", headers={**key, **_id(6)}, json={"model": "mistral", "messages": []}
    )
    rows = audit_rows(stack, 6)
    assert sorted(rows) == [f"audit-test-{n:04d}" for n in range(1, 7)]
    chat, stream, blocked, bad_key, unknown, no_model = (
        rows[f"audit-test-{n:04d}"] for n in range(1, 7)
    )
    assert (chat["status"], chat["key_prefix"], chat["tenant"], chat["model"]) == (
        200,
        stack.key[:11],
        "acme",
        "llama3.2:latest",
    )
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["streamed"]) == (4, 12, False)
    assert chat["backend"] == "default" and chat["latency_ms"] > 0
    assert (stream["status"], stream["completion_tokens"], stream["streamed"]) == (200, 5, True)
    assert stream["ttfb_ms"] is not None and stream["ttfb_ms"] <= stream["latency_ms"]
    assert (blocked["status"], blocked["error_code"], blocked["key_prefix"]) == (
        403,
        "forbidden",
        None,
    )
    assert (bad_key["status"], bad_key["error_code"]) == (401, "invalid_api_key")
    assert (unknown["status"], no_model["status"], no_model["error_code"]) == (
        404,
        404,
        "model_not_found",
    )
    assert all(row["client_ip"] == "127.0.0.1" for row in rows.values())


def test_a_disconnected_stream_is_audited_with_what_it_produced(sqlite_stack: Stack) -> None:
    sqlite_stack.mock.config(token_delay_s=0.05, reply_tokens=1000)
    with httpx.stream(
        "POST",
        f"{sqlite_stack.url}/api/generate",
        headers={**sqlite_stack.headers, **_id(77)},
        json={"model": "llama3.2", "prompt": "one two", "options": {"num_predict": 200}},
    ) as r:
        lines = r.iter_lines()
        for _ in range(4):
            next(lines)
    deadline = time.monotonic() + 5
    while (row := audit_rows(sqlite_stack, 1).get("audit-test-0077")) is None:
        assert time.monotonic() < deadline
    assert row["client_disconnected"] is True and row["streamed"] is True
    assert 4 <= row["completion_tokens"] < 40


class WriterStall:
    """Another client holding the audit table, so the gateway's writer cannot write."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.sqlite: sqlite3.Connection | None = None
        self.psql: subprocess.Popen[str] | None = None

    def __enter__(self) -> WriterStall:
        url = self.env.get("DATABASE_URL")
        if url is None:
            self.sqlite = sqlite3.connect(
                Path(self.env["GATEWAY_STATE_DIR"]) / "neuronetz-gateway.sqlite3", timeout=5
            )
            self.sqlite.execute("BEGIN EXCLUSIVE")
            return self
        self.psql = subprocess.Popen(
            ["psql", "-q", url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        assert self.psql.stdin is not None
        self.psql.stdin.write(
            "BEGIN; LOCK TABLE audit_record IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0);\n"
        )
        self.psql.stdin.flush()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sqlite is not None:
            self.sqlite.rollback()
            self.sqlite.close()
        if self.psql is not None and self.psql.stdin is not None:
            self.psql.stdin.write("ROLLBACK;\n")
            self.psql.stdin.close()
            self.psql.wait(timeout=10)


def test_a_stalled_writer_puts_the_gateway_in_deny_mode_until_it_drains(
    db_env: dict[str, str], mock: MockOllama, tmp_path: Path
) -> None:
    stack = make_stack({**db_env, "AUDIT_BUFFER_SIZE": "3"}, mock, str(tmp_path))
    try:
        with WriterStall(stack.env):
            statuses = [
                httpx.get(f"{stack.url}/api/tags", headers=stack.headers, timeout=10).status_code
                for _ in range(5)
            ]
            assert statuses[:3] == [200, 200, 200] and statuses[3:] == [503, 503]
            refused = httpx.get(f"{stack.url}/v1/models", headers=stack.headers)
            assert refused.json()["error"]["code"] == "audit_unavailable"
            ready = httpx.get(f"{stack.url}/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["audit"].startswith(
                "deny mode"
            )
            assert httpx.get(f"{stack.url}/healthz").status_code == 200
        deadline = time.monotonic() + 10
        while httpx.get(f"{stack.url}/api/tags", headers=stack.headers).status_code != 200:
            assert time.monotonic() < deadline, "deny mode did not end after the writer drained"
            time.sleep(0.2)
        assert len(audit_rows(stack, 4)) >= 4
    finally:
        stack.process.close()


def test_sigterm_during_live_streams_loses_no_row(stack: Stack) -> None:
    stack.mock.config(token_delay_s=0.02, reply_tokens=1000)
    body = {"model": "llama3.2", "messages": PROMPT, "options": {"num_predict": 40}}
    results: list[int] = []

    def stream(n: int) -> None:
        with httpx.stream(
            "POST",
            f"{stack.url}/api/chat",
            headers={**stack.headers, **_id(100 + n)},
            json=body,
            timeout=30,
        ) as response:
            results.append(sum(1 for line in response.iter_lines() if line))

    threads = [threading.Thread(target=stream, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert stack.process.terminate(timeout=40) == 0
    for thread in threads:
        thread.join(timeout=30)
    assert results == [41, 41, 41]  # the streams were allowed to finish
    rows = _rows_in_database(stack)
    assert {f"audit-test-{100 + n:04d}" for n in range(3)} <= set(rows)
    assert all(rows[f"audit-test-{100 + n:04d}"]["completion_tokens"] == 40 for n in range(3))


def _rows_in_database(stack: Stack) -> dict[str, dict[str, Any]]:
    from neuronetz_gateway.db.audit import query_audit

    return {row["request_id"]: row for row in stack.admin(lambda: query_audit(limit=1000))}


def test_prompt_logs_only_for_opted_in_keys_and_purged_after_expiry(stack: Stack) -> None:
    hasher = KeyHasher.from_settings(load_settings(stack.env))
    logged = stack.admin(
        lambda: keys.create_key(hasher, "acme", "logged", log_prompts=True, prompt_retention_days=3)
    )
    headers = {"Authorization": f"Bearer {logged.token}"}
    httpx.post(f"{stack.url}/api/chat", headers={**headers, **_id(201)}, json=CHAT)
    with httpx.stream(
        "POST",
        f"{stack.url}/v1/chat/completions",
        headers={**headers, **_id(202)},
        json={"model": "llama3.2", "messages": PROMPT, "stream": True, "max_tokens": 3},
    ) as r:
        r.read()
    httpx.post(
        f"{stack.url}/api/chat", headers={**stack.headers, **_id(203)}, json=CHAT
    )  # not opted in
    audit_rows(stack, 3)
    prompts = {row["request_id"]: row for row in stack.admin(lambda: query_prompts(limit=100))}
    assert sorted(prompts) == ["audit-test-0201", "audit-test-0202"]
    assert json.loads(prompts["audit-test-0201"]["request_body"]) == {"messages": PROMPT}
    assert prompts["audit-test-0201"]["response_text"].startswith("The gateway keeps every")
    assert prompts["audit-test-0202"]["response_text"] == "The gateway keeps "
    assert prompts["audit-test-0201"]["key_prefix"] == logged.record.prefix
    stack.admin(
        lambda: (
            PromptLog.update({PromptLog.expires_at: PromptLog.created_at})
            .where(PromptLog.id > 0)
            .run()
        )
    )
    purged = subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "purge", "--json"],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert json.loads(purged.stdout) == {"audit_rows": 0, "prompt_logs": 2}
    assert stack.admin(lambda: query_prompts(limit=100)) == []


def test_metrics_are_off_by_default_and_parse_when_on(
    sqlite_stack: Stack, mock: MockOllama, tmp_path: Path
) -> None:
    assert httpx.get(f"{sqlite_stack.url}/metrics").status_code == 404
    stack = make_stack(
        {"GATEWAY_STATE_DIR": str(tmp_path / "state"), "GATEWAY_METRICS": "true", **FAST_ARGON2},
        mock,
        str(tmp_path),
    )
    try:
        httpx.post(f"{stack.url}/api/chat", headers=stack.headers, json=CHAT)
        httpx.get(f"{stack.url}/api/pull")
        text = httpx.get(f"{stack.url}/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert {
            "neuronetz_requests",
            "neuronetz_tokens",
            "neuronetz_request_duration_seconds",
            "neuronetz_audit_buffer_depth",
            "neuronetz_audit_deny_mode",
            "neuronetz_backend_up",
            "neuronetz_streams_in_flight",
            "neuronetz_time_to_first_byte_seconds",
        } <= set(families)
        served = [
            s
            for s in families["neuronetz_requests"].samples
            if s.labels == {"route": "/api/chat", "status": "200", "tenant": "acme"}
        ]
        assert served and served[0].value == 1
        assert stack.key not in text and stack.key[11:] not in text
    finally:
        stack.process.close()
    closed = make_stack(
        {
            "GATEWAY_STATE_DIR": str(tmp_path / "state2"),
            "GATEWAY_METRICS": "true",
            "GATEWAY_METRICS_ALLOW": "10.9.9.9",
            **FAST_ARGON2,
        },
        mock,
        str(tmp_path),
    )
    try:
        assert httpx.get(f"{closed.url}/metrics").status_code == 404
    finally:
        closed.process.close()


@pytest.mark.redis
def test_the_full_key_appears_nowhere(mock: MockOllama, tmp_path: Path) -> None:
    import redis

    env = {
        "GATEWAY_STATE_DIR": str(tmp_path / "state"),
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEWAY_METRICS": "true",
        "GATEWAY_LOG_FORMAT": "json",
        **FAST_ARGON2,
    }
    stack = make_stack(env, mock, str(tmp_path))
    try:
        hasher = KeyHasher.from_settings(load_settings(stack.env))
        logged = stack.admin(lambda: keys.create_key(hasher, "acme", "logged", log_prompts=True))
        for token in (stack.key, logged.token):
            httpx.post(
                f"{stack.url}/api/chat", headers={"Authorization": f"Bearer {token}"}, json=CHAT
            )
        httpx.post(
            f"{stack.url}/api/chat",
            headers={"Authorization": f"Bearer {stack.key[:-2]}xx"},
            json=CHAT,
        )
        metrics = httpx.get(f"{stack.url}/metrics").text
        audit_rows(stack, 3)
        with redis.Redis() as client:
            stored = "".join(f"{k!r}{client.dump(k)!r}" for k in client.scan_iter("nz:*"))
        database = repr(stack.admin(lambda: _dump()))
    finally:
        stack.process.close()
    logs = stack.process.output()
    access = [
        json.loads(line)
        for line in logs.splitlines()
        if line.startswith("{") and '"neuronetz_gateway.access"' in line
    ]
    served = [a for a in access if a["path"] == "/api/chat" and a["status"] == 200]
    assert served and {"request_id", "tenant", "key_prefix", "status", "latency_ms"} <= set(
        served[0]
    )
    assert served[0]["key_prefix"] == stack.key[:11] and served[0]["tenant"] == "acme"
    for token in (stack.key, logged.token):
        for where, text in (
            ("logs", logs),
            ("metrics", metrics),
            ("redis", stored),
            ("database", database),
        ):
            assert token not in text, where
            assert token[11:] not in text, where
    assert stack.key[:11] in database  # the public prefix is what audit rows keep


async def _dump() -> list[Any]:
    return [await table.select().run() for table in ALL_TABLES]


def test_usage_report_agrees_with_the_audit_rows(stack: Stack) -> None:
    for n in range(3):
        httpx.post(f"{stack.url}/api/chat", headers={**stack.headers, **_id(300 + n)}, json=CHAT)
    rows = audit_rows(stack, 3)
    time.sleep(1.2)  # the usage ledger writes once a second
    result = subprocess.run(
        [sys.executable, "-m", "neuronetz_gateway", "usage", "--key", stack.key[:11], "--json"],
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    (usage,) = json.loads(result.stdout)
    assert usage["requests"] == len(rows) == 3
    assert usage["prompt_tokens"] == sum(r["prompt_tokens"] for r in rows.values())
    assert usage["completion_tokens"] == sum(r["completion_tokens"] for r in rows.values())
