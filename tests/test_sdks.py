"""The official `openai` and `ollama` SDKs talk through the gateway without noticing it."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import openai
import pytest
from conftest import Stack

MESSAGES = [{"role": "user", "content": "say something about doors"}]


@pytest.fixture
def openai_client(sqlite_stack: Stack) -> Iterator[openai.OpenAI]:
    url, key = f"{sqlite_stack.url}/v1", sqlite_stack.key
    with openai.OpenAI(base_url=url, api_key=key, max_retries=0) as client:
        yield client


@pytest.fixture
def ollama_client(sqlite_stack: Stack) -> Iterator[ollama.Client]:
    headers = {"Authorization": f"Bearer {sqlite_stack.key}"}
    client = ollama.Client(host=sqlite_stack.url, headers=headers)
    try:
        yield client
    finally:
        client._client.close()


def test_openai_chat_completion(openai_client: openai.OpenAI) -> None:
    reply = openai_client.chat.completions.create(model="llama3.2", messages=MESSAGES, max_tokens=4)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "The gateway keeps every "
    assert reply.usage is not None and reply.usage.completion_tokens == 4


def test_openai_streaming_with_and_without_usage(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="llama3.2", messages=MESSAGES, max_tokens=3, stream=True
    )  # type: ignore[arg-type]
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "The gateway keeps "
    )
    assert all(c.usage is None for c in chunks)
    with_usage = list(
        openai_client.chat.completions.create(  # type: ignore[call-overload]
            model="llama3.2",
            messages=MESSAGES,
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage.completion_tokens == 3


def test_openai_models_and_embeddings(openai_client: openai.OpenAI) -> None:
    assert [m.id for m in openai_client.models.list()] == [
        "llama3.2:latest",
        "nomic-embed-text:latest",
        "qwen3:8b",
    ]
    assert openai_client.models.retrieve("qwen3:8b").id == "qwen3:8b"
    embedding = openai_client.embeddings.create(model="nomic-embed-text", input=["a door", "a key"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 8


def test_openai_sdk_surfaces_gateway_errors(
    openai_client: openai.OpenAI, sqlite_stack: Stack
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.chat.completions.create(model="mistral", messages=MESSAGES)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found"
    with (
        openai.OpenAI(base_url=f"{sqlite_stack.url}/v1", api_key="nz_nope", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.models.list()


def test_ollama_chat_generate_and_stream(ollama_client: ollama.Client) -> None:
    reply = ollama_client.chat(model="llama3.2", messages=MESSAGES, options={"num_predict": 2})
    assert reply.message.content == "The gateway " and reply.eval_count == 2
    generated = ollama_client.generate(model="llama3.2", prompt="hello", options={"num_predict": 3})
    assert generated.response == "The gateway keeps " and generated.done
    parts = list(
        ollama_client.chat(
            model="llama3.2", messages=MESSAGES, stream=True, options={"num_predict": 4}
        )
    )
    assert "".join(p.message.content or "" for p in parts) == "The gateway keeps every "
    assert parts[-1].done and parts[-1].eval_count == 4


def test_ollama_list_show_embed(ollama_client: ollama.Client) -> None:
    assert [m.model for m in ollama_client.list().models] == [
        "llama3.2:latest",
        "nomic-embed-text:latest",
        "qwen3:8b",
    ]
    assert ollama_client.show("llama3.2").details is not None
    assert len(ollama_client.embed(model="nomic-embed-text", input="a door").embeddings) == 1


def test_ollama_sdk_cannot_pull_or_delete(
    ollama_client: ollama.Client, sqlite_stack: Stack
) -> None:
    with pytest.raises(ollama.ResponseError) as pulled:
        ollama_client.pull("llama3.2")
    assert pulled.value.status_code == 403
    with pytest.raises(ollama.ResponseError) as deleted:
        ollama_client.delete("llama3.2")
    assert deleted.value.status_code == 403
    assert not [p for p in sqlite_stack.mock.paths() if p in ("/api/pull", "/api/delete")]
