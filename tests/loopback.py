"""Loopback for tests: free ports, and real HTTP servers (an ASGI app served by uvicorn in this
event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from orchestrator.sandbox import SandboxConfig, create_sandbox_app

SANDBOX_PREFIX = {
    "apimart": "/apimart",
    "octopusx": "/octopusx",
    "apixo": "/apixo/api/v1",
    "apifree": "/apifree",
}


def free_port() -> int:
    """A loopback port nothing listens on right now: for a server to bind, or for a connection
    that must be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "on", port: int | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` on a fresh loopback port; yields its base URL.

    uvicorn binds the port itself: handed a pre-bound socket it leaves Nagle's algorithm on,
    and every request then waits ~40 ms for a delayed ACK.
    """
    if port is None:
        port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan=lifespan
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def running_sandbox(config: SandboxConfig | None = None) -> AsyncIterator[str]:
    """The provider sandbox over real HTTP; yields its root URL (add SANDBOX_PREFIX[name])."""
    async with serve_app(create_sandbox_app(config or SandboxConfig(task_seconds=0))) as url:
        yield url
