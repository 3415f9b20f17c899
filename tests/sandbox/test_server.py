"""The sandbox under uvicorn on loopback: serving, its own callback client, clean cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from orchestrator.sandbox import SandboxConfig, serve
from tests.eventually import eventually
from tests.loopback import free_port
from tests.sandbox.conftest import AUTH


@asynccontextmanager
async def running(config: SandboxConfig) -> AsyncIterator[httpx.AsyncClient]:
    """A client to a sandbox served on a free loopback port, stopped on exit."""
    port = free_port()
    server = asyncio.create_task(serve(config, "127.0.0.1", port))
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as client:

        async def answering() -> bool:
            try:
                return (await client.get("/_sandbox/health")).status_code == 200
            except httpx.ConnectError:
                return False

        await eventually(answering, what="the sandbox to answer")
        try:
            yield client
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
    assert server.cancelled()


async def test_serves_over_loopback_and_delivers_callbacks() -> None:
    """Under uvicorn the providers answer and callbacks go out through the built-in client."""
    async with running(SandboxConfig(task_seconds=0)) as client:
        webhook = str(client.base_url.join("/_sandbox"))
        body = {"model": "veo3.1-fast", "prompt": "p", "webhook": webhook}
        submitted = await client.post("/apimart/v1/videos/generations", json=body)
        task_id = submitted.json()["data"][0]["task_id"]
        status = await client.get(f"/apimart/v1/tasks/{task_id}")
        assert status.json()["data"]["status"] == "completed"

        async def logged() -> list[dict[str, object]] | None:
            return (await client.get("/_sandbox/callbacks")).json() or None

        log = await eventually(logged, what="the callback attempt in the log")
        # The sandbox has no /_sandbox/callback route: a 404 proves the POST arrived, and
        # apimart stops on any 4xx.
        assert [(a["url"], a["status"]) for a in log] == [(f"{webhook}/callback", 404)]
