"""Benchmark: the gateway against a direct call to the mock Ollama, in one run, on loopback.

    .venv/bin/python bench/run.py [--requests N] [--redis]

Starts the mock Ollama and the gateway (embedded SQLite; `--redis` adds REDIS_URL) as separate
processes, creates a tenant with limits high enough not to interfere, and drives both with a small
keep-alive HTTP/1.1 client written on raw asyncio sockets (a heavy client would measure itself).
Prints a table: requests/s and p50/p99 latency for non-streaming chat at several concurrencies,
time to first token and chunks/s for streams, and the gateway's resident memory; every gateway
figure is shown next to the direct one with their ratio. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME_LIMIT_S = 20.0  # per measurement


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Connection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for these two servers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, headers: str) -> tuple[int, float, int]:
        """Send one request; return (status, seconds to first body byte, body chunks/lines)."""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{headers}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            first, pieces = await self._chunked(started)
            return status, first, pieces
        length = int(lowered.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await self.reader.readexactly(length)
        return status, time.perf_counter() - started, 1

    async def _chunked(self, started: float) -> tuple[float, int]:
        first = 0.0
        lines = 0
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return first, lines
            data = await self.reader.readexactly(size + 2)
            if not first:
                first = time.perf_counter() - started
            lines += data.count(b"\n") - 1

    def close(self) -> None:
        self.writer.close()


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    ttft_ms: float = 0.0
    chunks_per_s: float = 0.0


async def load(
    port: int, path: str, body: bytes, headers: str, concurrency: int, total: int
) -> Result:
    latencies: list[float] = []
    firsts: list[float] = []
    chunks = 0
    remaining = total
    deadline = time.monotonic() + TIME_LIMIT_S

    async def worker() -> None:
        nonlocal remaining, chunks
        connection = await Connection.open(port)
        try:
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = time.perf_counter()
                status, first, pieces = await connection.post(path, body, headers)
                if status != 200:
                    raise RuntimeError(f"status {status} from port {port}")
                latencies.append(time.perf_counter() - started)
                firsts.append(first)
                chunks += pieces
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        ttft_ms=statistics.median(firsts) * 1000,
        chunks_per_s=chunks / elapsed,
    )


def wait_http(port: int, path: str = "/", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}")


def row(label: str, direct: str, via: str, ratio: float | None = None, note: str = "") -> None:
    shown = f"{ratio:>8.2f}" if ratio is not None else f"{note:>8}"
    print(f"  {label:<30}{direct:>18}{via:>18}{shown}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cli(env: dict[str, str], *args: str) -> str:
    command = [PYTHON, "-m", "neuronetz_gateway", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per non-streaming run")
    parser.add_argument(
        "--redis", action="store_true", help="gateway with REDIS_URL=redis://127.0.0.1:6379/0"
    )
    args = parser.parse_args()

    mock_port, gw_port = free_port(), free_port()
    state = tempfile.mkdtemp(prefix="nz-bench-")
    env = {
        **os.environ,
        "GATEWAY_STATE_DIR": state,
        "OLLAMA_BASE_URL": f"http://127.0.0.1:{mock_port}",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "DEFAULT_RPM": "100000000",
        "DEFAULT_TPM": "100000000000",
        "DEFAULT_CONCURRENT": "10000",
    }
    if args.redis:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    mock = subprocess.Popen(
        [PYTHON, "-m", "neuronetz_gateway", "mock-ollama", "--port", str(mock_port)]
    )
    cli(env, "migrate")
    cli(env, "create-tenant", "--name", "bench")
    key = json.loads(cli(env, "create-key", "--tenant", "bench", "--name", "bench", "--json"))[
        "key"
    ]
    gateway = subprocess.Popen(
        [PYTHON, "-m", "neuronetz_gateway", "serve", "--port", str(gw_port)], env=env
    )
    try:
        wait_http(mock_port)
        wait_http(gw_port, "/healthz")
        # Long natural answers, so num_predict alone decides each answer's length.
        configure = urllib.request.Request(
            f"http://127.0.0.1:{mock_port}/_mock/config", data=b'{"reply_tokens": 100000}'
        )
        urllib.request.urlopen(configure).close()  # noqa: S310
        time.sleep(0.5)
        run(mock_port, gw_port, key, args.requests, gateway.pid, args.redis)
    finally:
        gateway.terminate()
        mock.terminate()
        gateway.wait(timeout=30)
        mock.wait(timeout=30)


def run(mock_port: int, gw_port: int, key: str, total: int, gateway_pid: int, redis: bool) -> None:
    auth = f"Authorization: Bearer {key}\r\n"
    chat = json.dumps(
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hello there"}],
            "stream": False,
            "options": {"num_predict": 8},
        }
    ).encode()
    stream = json.dumps(
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hello there"}],
            "options": {"num_predict": 200},
        }
    ).encode()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; gateway: embedded SQLite"
        f"{' + Redis' if redis else ''}, 1 worker; mock Ollama in its own process"
    )
    asyncio.run(load(gw_port, "/api/chat", chat, auth, 4, 200))  # warm-up: key cache, pools
    asyncio.run(load(mock_port, "/api/chat", chat, "", 4, 200))
    print(f"\n{'non-streaming /api/chat':<32}{'direct':>18}{'gateway':>18}{'ratio':>8}")
    for concurrency in (1, 8, 32):
        count = total if concurrency > 1 else min(total, 1000)
        direct = asyncio.run(load(mock_port, "/api/chat", chat, "", concurrency, count))
        via = asyncio.run(load(gw_port, "/api/chat", chat, auth, concurrency, count))
        row(f"c={concurrency} req/s", f"{direct.rps:.0f}", f"{via.rps:.0f}", via.rps / direct.rps)
        row(
            f"c={concurrency} p50 / p99 ms",
            f"{direct.p50_ms:.2f} / {direct.p99_ms:.2f}",
            f"{via.p50_ms:.2f} / {via.p99_ms:.2f}",
        )
        if concurrency == 1:
            print(
                f"  added latency c=1: p50 {via.p50_ms - direct.p50_ms:+.2f} ms, "
                f"p99 {via.p99_ms - direct.p99_ms:+.2f} ms"
            )
    print(f"\n{'streaming /api/chat (200 tokens)':<32}{'direct':>18}{'gateway':>18}{'ratio':>8}")
    for concurrency in (1, 8):
        direct = asyncio.run(
            load(mock_port, "/api/chat", stream, "", concurrency, 40 * concurrency)
        )
        via = asyncio.run(load(gw_port, "/api/chat", stream, auth, concurrency, 40 * concurrency))
        row(
            f"c={concurrency} chunks/s",
            f"{direct.chunks_per_s:.0f}",
            f"{via.chunks_per_s:.0f}",
            via.chunks_per_s / direct.chunks_per_s,
        )
        row(
            f"c={concurrency} time to 1st token ms",
            f"{direct.ttft_ms:.2f}",
            f"{via.ttft_ms:.2f}",
            None,
            f"(+{via.ttft_ms - direct.ttft_ms:.2f})",
        )
    print(f"\ngateway RSS after the run: {rss_mib(gateway_pid):.0f} MiB")


if __name__ == "__main__":
    main()
