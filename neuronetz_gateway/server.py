"""run(settings): serve the gateway with uvicorn (uvloop + httptools), one or more workers.

uvicorn's proxy-header rewriting is off: the gateway applies GATEWAY_TRUSTED_PROXIES once itself
(SPEC §6). Several workers share one listening socket; each is a forked copy of this process that
opens its own runtime. Without Redis, limits would not be shared, so that is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys

import uvicorn

from neuronetz_gateway.app import create_app
from neuronetz_gateway.config import Settings
from neuronetz_gateway.runtime import Runtime

log = logging.getLogger("neuronetz_gateway.server")

# Seconds in-flight requests get to finish after SIGTERM before they are cut.
GRACEFUL_SHUTDOWN_S = 20


class StartupError(Exception):
    """The server cannot start; the message is one readable line, `exit_code` what to exit with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse several workers without Redis: in-process limits would not be shared."""
    if workers < 1:
        raise StartupError("--workers must be at least 1", exit_code=2)
    if workers > 1 and settings.redis_url is None:
        raise StartupError(
            f"--workers {workers} needs REDIS_URL: without Redis every worker would keep its own "
            "rate limits, concurrency slots and key cache. Set REDIS_URL or run one worker.",
            exit_code=2,
        )


def run(settings: Settings, workers: int = 1) -> None:
    """Serve until SIGTERM or SIGINT; return normally after a clean shutdown."""
    check_workers(settings, workers)
    sock = _bind(settings)
    # Until uvicorn installs its own handlers, SIGTERM is only noted (and honoured right after
    # start-up). uvicorn re-raises the signal it caught once it has shut down; with this Python
    # handler in place that re-raise is harmless, so SIGTERM ends in exit 0, not a signal death.
    signal.signal(signal.SIGTERM, _note_stop)
    if workers == 1:
        _serve_one(settings, sock)
        return
    _supervise(settings, sock, workers)


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.bind_host, settings.bind_port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {settings.bind_host}:{settings.bind_port}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


_stop_requested = False
_server: uvicorn.Server | None = None


def _note_stop(signum: int, frame: object) -> None:
    global _stop_requested
    _stop_requested = True
    if _server is not None:  # built but maybe not yet listening for signals itself
        _server.should_exit = True


def _serve_one(settings: Settings, sock: socket.socket) -> None:
    import uvloop

    uvloop.run(_serve(settings, sock))


async def _serve(settings: Settings, sock: socket.socket) -> None:
    try:
        runtime = await Runtime.open(settings)
    except Exception as exc:  # every startup failure becomes one readable line
        raise StartupError(f"cannot start: {exc}") from None
    if _stop_requested:  # SIGTERM arrived while starting: stop without serving
        await runtime.close()
        return
    try:
        config = uvicorn.Config(
            create_app(runtime),
            loop="none",
            http="httptools",
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            date_header=True,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            timeout_keep_alive=5,
        )
        server = uvicorn.Server(config)
        global _server
        _server = server
        server.should_exit = _stop_requested
        host, port = sock.getsockname()[:2]
        log.info("serving on http://%s:%s (database: %s)", host, port, runtime.database.kind)
        await server.serve(sockets=[sock])
    finally:
        await runtime.close()
        log.info("stopped")


def _supervise(settings: Settings, sock: socket.socket, workers: int) -> None:
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                _serve_one(settings, sock)
            except StartupError as exc:
                print(f"error: {exc}", file=sys.stderr)
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        failed += os.waitstatus_to_exitcode(status) != 0
    if failed:
        raise StartupError(f"{failed} of {workers} workers failed")


def serve_forever(settings: Settings, workers: int = 1) -> int:
    """CLI entry: run, translating StartupError into exit code 1 with one line."""
    try:
        run(settings, workers)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
    return 0
