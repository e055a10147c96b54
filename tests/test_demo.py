"""`./demo.sh`, the README's first command: mock Ollama + gateway + a key, ready for curl."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
from conftest import FAST_ARGON2, MockOllama, Stack, free_port, make_stack

ROOT = Path(__file__).resolve().parent.parent


def test_demo_serves_a_chat_with_the_printed_key_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, mock_port = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_BIND_PORT": str(port),
        "DEMO_OLLAMA_PORT": str(mock_port),
        "GATEWAY_STATE_DIR": str(tmp_path / "demo-state"),
        "ARGON2_MEMORY_COST_KIB": "1024",
        "ARGON2_TIME_COST": "1",
        "ARGON2_PARALLELISM": "1",
    }
    demo = subprocess.Popen(
        ["./demo.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    try:
        key = None
        deadline = time.monotonic() + 120
        while key is None and time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "demo.sh exited early"
            if match := re.fullmatch(r"\s+(nz_[0-9A-Za-z]{57})\s*", line):
                key = match.group(1)
        assert key is not None
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        chat = httpx.post(
            f"{url}/api/chat",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
                "options": {"num_predict": 2},
            },
        )
        assert chat.status_code == 200 and chat.json()["message"]["content"] == "The gateway "
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        demo.wait(timeout=30)
        demo.stdout.close()
    assert demo.returncode == 0
    _assert_nothing_listens(mock_port)  # the mock went down with it


def _assert_nothing_listens(port: int) -> None:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.ConnectError:
        return
    raise AssertionError(f"something still listens on {port}")


def test_playground_is_off_unless_enabled(
    sqlite_stack: Stack, mock: MockOllama, tmp_path: Path
) -> None:
    assert httpx.get(f"{sqlite_stack.url}/playground").status_code == 404
    env = {
        "GATEWAY_STATE_DIR": str(tmp_path / "state"),
        "GATEWAY_PLAYGROUND": "true",
        **FAST_ARGON2,
    }
    stack = make_stack(env, mock, str(tmp_path))
    try:
        page = httpx.get(f"{stack.url}/playground")
        assert page.status_code == 200 and "/v1/chat/completions" in page.text
        assert "connect-src 'self'" in page.headers["content-security-policy"]
    finally:
        stack.process.close()
