"""Fixtures for the sandbox tests: a movable clock, the app, and a client speaking to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from orchestrator.sandbox import SandboxConfig, create_sandbox_app
from tests.clock import Clock

KEY = "test-key"
AUTH = {"authorization": f"Bearer {KEY}"}


def client_for(app: Starlette, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://sandbox.test", headers=headers or AUTH
    )


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client to ``app`` with its lifespan running (ASGITransport does not run it)."""
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield client


class Receiver:
    """A callback receiver behind ``httpx.MockTransport``: answers queued statuses, then 200."""

    def __init__(self, *statuses: int, delay: float = 0.0) -> None:
        self.requests: list[httpx.Request] = []
        self._statuses = list(statuses)
        self._delay = delay

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._delay:
            await asyncio.sleep(self._delay)
        return httpx.Response(self._statuses.pop(0) if self._statuses else 200)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


Configure = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Starlette:
    return create_sandbox_app(SandboxConfig(task_seconds=10, seed=7), clock=clock)


@pytest.fixture
async def sandbox(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def configure(sandbox: httpx.AsyncClient) -> Configure:
    """Change the sandbox's config through ``POST /_sandbox/config``, as a remote test would."""

    async def apply(**changes: Any) -> dict[str, Any]:
        response = await sandbox.post("/_sandbox/config", json=changes)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    return apply
