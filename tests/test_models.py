"""Step 6 and discovery: effective model sets, cloud models, refresh, fail-closed (SPEC §7)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis
from conftest import FAST_ARGON2, MockOllama, Stack, make_stack, require_service

from neuronetz_gateway.admin import keys, tenants
from neuronetz_gateway.auth.hashing import KeyHasher
from neuronetz_gateway.config import load_settings
from neuronetz_gateway.db.records import Limits


def _names(stack: Stack, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token or stack.key}"}
    return [m["name"] for m in httpx.get(f"{stack.url}/api/tags", headers=headers).json()["models"]]


def test_allow_all_tenants_see_every_local_model_but_no_cloud_model(sqlite_stack: Stack) -> None:
    assert _names(sqlite_stack) == ["llama3.2:latest", "nomic-embed-text:latest", "qwen3:8b"]
    openai_ids = [
        m["id"]
        for m in httpx.get(f"{sqlite_stack.url}/v1/models", headers=sqlite_stack.headers).json()[
            "data"
        ]
    ]
    assert openai_ids == _names(sqlite_stack)
    cloud = httpx.post(
        f"{sqlite_stack.url}/api/chat",
        headers=sqlite_stack.headers,
        json={"model": "gpt-oss:120b-cloud", "messages": []},
    )
    assert cloud.status_code == 404


def test_allowlists_and_key_subsets_narrow_what_a_caller_sees_and_uses(stack: Stack) -> None:
    hasher = KeyHasher.from_settings(load_settings(stack.env))

    async def setup() -> str:
        await tenants.create_tenant(
            "narrow", Limits(), ("qwen3:8b", "llama3.2", "gpt-oss:120b-cloud")
        )
        return (
            await keys.create_key(hasher, "narrow", "k", models=("qwen3:8b", "gpt-oss:120b-cloud"))
        ).token

    token = stack.admin(setup)
    assert _names(stack, token) == ["gpt-oss:120b-cloud", "qwen3:8b"]
    headers = {"Authorization": f"Bearer {token}"}
    unknown = httpx.post(
        f"{stack.url}/api/chat", headers=headers, json={"model": "mistral", "messages": []}
    )
    forbidden = httpx.post(
        f"{stack.url}/api/chat", headers=headers, json={"model": "llama3.2", "messages": []}
    )
    assert (unknown.status_code, forbidden.status_code) == (404, 404)
    assert forbidden.json() == {"error": "model 'llama3.2' not found"}
    show = httpx.post(f"{stack.url}/api/show", headers=headers, json={"model": "llama3.2"})
    assert show.status_code == 404
    one = httpx.get(f"{stack.url}/v1/models/llama3.2", headers=headers)
    assert one.status_code == 404 and one.json()["error"]["code"] == "model_not_found"
    assert httpx.get(f"{stack.url}/v1/models/qwen3:8b", headers=headers).json()["id"] == "qwen3:8b"
    assert "/api/chat" not in stack.mock.paths()


def test_new_backend_models_appear_on_the_next_refresh(stack: Stack) -> None:
    stack.mock.config(models=["llama3.2:latest", "phi4:14b"])
    deadline = time.monotonic() + 5
    while "phi4:14b" not in _names(stack):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _names(stack) == ["llama3.2:latest", "phi4:14b"]


def test_ps_lists_only_allowed_models(sqlite_stack: Stack) -> None:
    running = httpx.get(f"{sqlite_stack.url}/api/ps", headers=sqlite_stack.headers).json()["models"]
    assert [m["name"] for m in running] == ["llama3.2:latest"]


def test_no_backend_answering_fails_closed_with_503(mock: MockOllama, tmp_path: object) -> None:
    env = {
        "GATEWAY_STATE_DIR": f"{tmp_path}/state",
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
    }
    stack = make_stack(env, mock, str(tmp_path))
    try:
        chat = httpx.post(
            f"{stack.url}/api/chat",
            headers=stack.headers,
            json={"model": "llama3.2", "messages": []},
        )
        assert chat.status_code == 503 and chat.json() == {
            "error": "no backend is available to serve models right now"
        }
        models = httpx.get(f"{stack.url}/v1/models", headers=stack.headers)
        assert models.status_code == 503 and models.json()["error"]["code"] == "no_backend"
        assert httpx.get(f"{stack.url}/readyz").status_code == 503
    finally:
        stack.process.close()


def test_a_backend_that_stops_answering_drops_out(stack: Stack) -> None:
    stack.mock.fault(mode="error", status=500)  # /api/tags keeps working in this fault mode
    chat = httpx.post(
        f"{stack.url}/api/chat",
        headers=stack.headers,
        json={"model": "llama3.2", "messages": [], "stream": False},
    )
    assert chat.status_code == 502 and chat.json() == {"error": "the backend failed to answer"}


@pytest.mark.redis
def test_discovered_models_are_shared_through_redis(mock: MockOllama, tmp_path: object) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = redis.Redis(host="127.0.0.1", port=6379)
    key = f"nz:{{models}}:tags:{mock.url}"
    client.delete(key)
    env = {
        "GATEWAY_STATE_DIR": f"{tmp_path}/state",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        **FAST_ARGON2,
    }
    stack = make_stack(env, mock, str(tmp_path))
    try:
        shared = json.loads(client.get(key) or b"{}")
        assert [m["name"] for m in shared["tags"]["models"]][:1] == ["llama3.2:latest"]
        assert 0 < client.ttl(key) <= 120
    finally:
        stack.process.close()
        client.delete(key)
        client.close()
