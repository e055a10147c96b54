"""Steps 1-4: request ids, client IPs, blocked and unknown paths, body caps, JSON validation."""

from __future__ import annotations

import ipaddress
import socket

import httpx
import pytest
from conftest import Stack

from neuronetz_gateway.edge.client_ip import client_ip
from neuronetz_gateway.edge.paths import UndecodablePath, is_blocked, normalize_path

MUTATION_SPELLINGS = [
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
    "/api/blobs/sha256:abc",
    "/API/PULL",
    "/api/pull/",
    "//api//pull",
    "/api/./pull",
    "/api/../api/pull",
    "/v1/../api/delete",
    "/api/%70ull",
    "/api%2fpull",
    "/api/%2e%2e/api/pull",
    "/%2561pi/pull",
    "/api\\\\pull",
    "/api/Blobs/x",
]
UNKNOWN_PATHS = [
    "/",
    "/api",
    "/api/me",
    "/api/signout",
    "/api/user/keys/1",
    "/api/status",
    "/api/experimental/web_search",
    "/v1/responses",
    "/v1/messages",
    "/v1/audio/speech",
    "/metrics.php",
]


@pytest.mark.parametrize("raw", MUTATION_SPELLINGS)
def test_every_spelling_of_a_mutation_path_is_blocked(raw: str) -> None:
    assert is_blocked(normalize_path(raw.encode()))


def test_normalization_never_climbs_above_the_root() -> None:
    assert normalize_path(b"/../../etc/passwd") == "/etc/passwd"
    assert normalize_path(b"/api/chat?x=/api/pull") == "/api/chat"
    with pytest.raises(UndecodablePath):
        normalize_path(b"/api/%ff")
    with pytest.raises(UndecodablePath):
        normalize_path(b"/api/chat%00")


def test_mutation_paths_answer_403_for_every_method_and_never_reach_the_backend(
    sqlite_stack: Stack,
) -> None:
    with socket_client(sqlite_stack) as send:
        for raw in MUTATION_SPELLINGS:
            for method in ("POST", "DELETE", "HEAD", "OPTIONS", "GET"):
                status, _ = send(method, raw, with_key=method != "GET")
                assert status == 403, (method, raw)
    assert not any(
        p.startswith(
            ("/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs")
        )
        for p in sqlite_stack.mock.paths()
    )


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_paths_are_404_and_never_proxied(sqlite_stack: Stack, path: str) -> None:
    response = httpx.post(
        sqlite_stack.url + path, headers=sqlite_stack.headers, json={"model": "llama3.2"}
    )
    assert response.status_code == 404
    assert path not in sqlite_stack.mock.paths()


class socket_client:
    """Raw HTTP/1.1 over a socket, so odd paths reach the server byte for byte."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.port = int(stack.url.rsplit(":", 1)[1])

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.send

    def __exit__(self, *exc: object) -> None:
        return None

    def send(
        self, method: str, path: str, with_key: bool = True, body: bytes = b""
    ) -> tuple[int, bytes]:
        auth = f"Authorization: Bearer {self.stack.key}\r\n" if with_key else ""
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1])
        return status, data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


def test_oversized_bodies_are_413_by_length_and_by_chunked_stream(sqlite_stack: Stack) -> None:
    big = b'{"model":"llama3.2","prompt":"' + b"x" * 300_000 + b'"}'
    declared = httpx.post(
        f"{sqlite_stack.url}/api/generate", headers=sqlite_stack.headers, content=big
    )
    assert declared.status_code == 413 and "exceeds" in declared.json()["error"]

    def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(big), 16384):
            yield big[start : start + 16384]

    chunked = httpx.post(
        f"{sqlite_stack.url}/v1/completions", headers=sqlite_stack.headers, content=chunks()
    )
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"
    assert "/api/generate" not in sqlite_stack.mock.paths()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "invalid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b"[1, 2]", "request body must be a JSON object, not list"),
        (b"", "request body is empty"),
        (b'{"model": "llama3.2", "prompt": "\xff"}', "request body is not valid UTF-8 (byte 33)"),
        (b'{"model": 5}', "'model' is required and must be a string"),
        (b'{"model": "../../etc/passwd"}', "invalid model name"),
        (b'{"model": "llama3.2\\u0000"}', "invalid model name"),
        (b'{"model": "llama3.2", "stream": "yes"}', "'stream' must be true or false"),
        (
            b'{"model": "llama3.2", "options": {"num_predict": "lots"}}',
            "'options.num_predict' must be an integer",
        ),
    ],
)
def test_bad_input_is_400_with_a_precise_message(
    sqlite_stack: Stack, body: bytes, message: str
) -> None:
    response = httpx.post(
        f"{sqlite_stack.url}/api/generate", headers=sqlite_stack.headers, content=body
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert "/api/generate" not in sqlite_stack.mock.paths()


def test_request_id_is_echoed_when_well_formed_and_generated_otherwise(sqlite_stack: Stack) -> None:
    given = httpx.get(f"{sqlite_stack.url}/healthz", headers={"X-Request-ID": "req-12345678"})
    assert given.headers["x-request-id"] == "req-12345678"
    for bad in ("short", "x" * 200, "evil\tid-123456"):
        generated = httpx.get(f"{sqlite_stack.url}/healthz", headers={"X-Request-ID": bad})
        assert (
            generated.headers["x-request-id"] != bad
            and len(generated.headers["x-request-id"]) == 32
        )
    refused = httpx.get(f"{sqlite_stack.url}/api/pull", headers={"X-Request-ID": "req-abcdefgh"})
    assert refused.status_code == 403 and refused.headers["x-request-id"] == "req-abcdefgh"


def test_upstream_requests_carry_the_backend_host_and_none_of_the_clients_headers(
    sqlite_stack: Stack,
) -> None:
    headers = {
        **sqlite_stack.headers,
        "Cookie": "session=secret",
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil.example",
        "X-Custom": "leak",
    }
    response = httpx.post(
        f"{sqlite_stack.url}/api/chat",
        headers=headers,
        json={"model": "llama3.2", "messages": [], "stream": False},
    )
    assert response.status_code == 200
    seen = next(r for r in sqlite_stack.mock.requests() if r["path"] == "/api/chat")["headers"]
    assert seen["host"] == sqlite_stack.mock.url.removeprefix("http://")
    assert not {"authorization", "cookie", "x-forwarded-for", "x-forwarded-host", "x-custom"} & set(
        seen
    )
    assert "server" not in {k.lower() for k in response.headers}


TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert client_ip("203.0.113.9", b"1.2.3.4", TRUSTED) == "203.0.113.9"
    assert client_ip("127.0.0.1", b"198.51.100.7", TRUSTED) == "198.51.100.7"
    # A client spoofing the header: the trusted proxy appended the real address on the right.
    assert client_ip("127.0.0.1", b"1.1.1.1, 198.51.100.7", TRUSTED) == "198.51.100.7"
    assert client_ip("127.0.0.1", b"1.1.1.1, 198.51.100.7, 10.1.2.3", TRUSTED) == "198.51.100.7"
    assert client_ip("127.0.0.1", b"[2001:db8::1]:443", TRUSTED) == "2001:db8::1"
    assert client_ip("127.0.0.1", b"garbage", TRUSTED) == "127.0.0.1"
