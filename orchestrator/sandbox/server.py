"""Running the sandbox as a loopback HTTP server under uvicorn (uvloop + httptools if installed)."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from orchestrator.sandbox.app import create_sandbox_app
from orchestrator.sandbox.config import SandboxConfig

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000


def _server(config: SandboxConfig, host: str, port: int) -> uvicorn.Server:
    app = create_sandbox_app(config)
    settings = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    return uvicorn.Server(settings)


async def serve(config: SandboxConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve on the running event loop until interrupted or cancelled.

    Cancelling shuts down gracefully (lifespan exit included) before re-raising.
    """
    server = _server(config, host, port)
    serving = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config: SandboxConfig | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until interrupted, on uvicorn's preferred event loop; config defaults to the env.
    ``sock``, when given, is a socket already bound to ``host:port`` (so a port in use was
    refused before anything was printed)."""
    server = _server(config or SandboxConfig(), host, port)
    server.run(sockets=None if sock is None else [sock])
