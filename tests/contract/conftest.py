"""Contract fixtures: the sandbox served over loopback HTTP, and the real adapters on the
production client (``provider_client``) pointed at it.

Every adapter is built exactly as ``registry.build_providers`` builds it; only its settings
differ, and a test changes those through ``adapter(name, **settings_overrides)``. The sandbox is
steered the way a remote test would steer it: through ``/_sandbox`` over HTTP.

Starting and stopping uvicorn costs ~0.2 s, so one sandbox serves the whole suite on the
session event loop (each module sets ``pytestmark = pytest.mark.asyncio(loop_scope="session")``)
and ``POST /_sandbox/reset`` gives every test a clean one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest_asyncio

from orchestrator.common.transport import ProviderClient, provider_client
from orchestrator.domain.values import TaskRef, TaskStatus, Tier
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.registry import ADAPTERS
from orchestrator.sandbox import SandboxConfig
from tests.loopback import SANDBOX_PREFIX, running_sandbox, serve_app

PROVIDERS = ("apimart", "octopusx", "apixo", "apifree")
CALLBACK_PROVIDERS = ("apimart", "apixo")
KEY = "k"
APIFREE_MODEL = "veo-3.1-fast"
"""apifree documents no Veo id (D2), so its adapter gets a default model from settings."""

POLL_S = 0.02


class AdapterFactory(Protocol):
    def __call__(self, name: str, /, **overrides: Any) -> Provider: ...


def plain_client() -> httpx.AsyncClient:
    """A stock httpx client that ignores proxy variables, so loopback stays loopback."""
    return httpx.AsyncClient(trust_env=False, timeout=5.0)


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A running sandbox: its root URL and a plain client for its ``/_sandbox`` routes."""

    root: str
    control: httpx.AsyncClient

    def base_url(self, provider: str) -> str:
        return self.root + SANDBOX_PREFIX[provider]

    async def reset(self) -> None:
        """Forget every task and callback and restore the start-up config."""
        response = await self.control.post(self.root + "/_sandbox/reset")
        assert response.status_code == 200, response.text

    async def configure(self, **changes: Any) -> dict[str, Any]:
        response = await self.control.post(self.root + "/_sandbox/config", json=changes)
        assert response.status_code == 200, response.text
        config: dict[str, Any] = response.json()
        return config

    async def tasks(self, provider: str | None = None) -> list[dict[str, Any]]:
        params = {} if provider is None else {"provider": provider}
        response = await self.control.get(self.root + "/_sandbox/tasks", params=params)
        assert response.status_code == 200, response.text
        listing: list[dict[str, Any]] = response.json()
        return listing

    async def callbacks(self, task_id: str | None = None) -> list[dict[str, Any]]:
        params = {} if task_id is None else {"task_id": task_id}
        response = await self.control.get(self.root + "/_sandbox/callbacks", params=params)
        assert response.status_code == 200, response.text
        attempts: list[dict[str, Any]] = response.json()
        return attempts


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sandbox_server() -> AsyncIterator[Sandbox]:
    """One sandbox for the whole contract suite: tasks finish at their first poll, no faults."""
    config = SandboxConfig(task_seconds=0, seed=1)
    async with running_sandbox(config) as root, plain_client() as control:
        yield Sandbox(root, control)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def images() -> AsyncIterator[str]:
    """A loopback server of two marked pictures, ``/first.png`` and ``/last.png``: the first
    and last frames an image-to-video request names (the provider fetches them itself)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from orchestrator.sandbox.video import marked_png

    pictures = {"first": marked_png(7, 0), "last": marked_png(7, 1)}

    async def picture(request: Request) -> Response:
        return Response(pictures[request.path_params["name"]], media_type="image/png")

    app = Starlette(routes=[Route("/{name:str}.png", picture)])
    async with serve_app(app, lifespan="off") as root:
        yield root


@pytest_asyncio.fixture(loop_scope="session")
async def sandbox(sandbox_server: Sandbox) -> AsyncIterator[Sandbox]:
    """The shared sandbox, reset before and after the test: no tasks, callbacks or changes."""
    await sandbox_server.reset()
    yield sandbox_server
    await sandbox_server.reset()


@pytest_asyncio.fixture(loop_scope="session")
async def adapter(sandbox: Sandbox) -> AsyncIterator[AdapterFactory]:
    """Builds the real adapter class for a provider, on its own production client.

    Settings default to the sandbox's base URL for that provider and the key ``k``; keyword
    arguments override any ``ProviderSettings`` field. Clients are closed after the test.
    """
    clients: list[ProviderClient] = []

    def build(name: str, /, **overrides: Any) -> Provider:
        fields: dict[str, Any] = {"base_url": sandbox.base_url(name), "api_key": KEY}
        if name == "apifree":
            fields["model"] = APIFREE_MODEL
        settings = ProviderSettings(**(fields | overrides))
        client = provider_client(
            max_connections=settings.max_concurrent_requests, timeout_s=settings.timeout_s
        )
        clients.append(client)
        return ADAPTERS[name](settings, client)

    yield build
    for client in reversed(clients):
        await client.aclose()


async def submit_base(
    provider: Provider, prompt: str = "a lighthouse at dawn", *, callback_url: str | None = None
) -> TaskRef:
    """Generate with the provider's fast-tier model; the reference a caller would keep."""
    model = provider.resolve_model(Tier.FAST, None)
    request = GenerateRequest(prompt=prompt, model=model, callback_url=callback_url)
    task_id = await provider.generate(request)
    return TaskRef(task_id=task_id, kind="generate", model=model)


async def submit_extend(
    provider: Provider,
    source: TaskRef,
    prompt: str = "the camera pulls back",
    *,
    callback_url: str | None = None,
) -> TaskRef:
    """Extend ``source`` with the model the adapter chooses for that chain (D3)."""
    model = provider.extend_model(source.model, None)
    request = ExtendRequest(source=source, prompt=prompt, model=model, callback_url=callback_url)
    task_id = await provider.extend(request)
    return TaskRef(task_id=task_id, kind="extend", model=model)


async def poll_until_terminal(
    provider: Provider, task: TaskRef, within: float = 15.0
) -> list[TaskStatus]:
    """Every status observed while polling ``task`` until it is terminal; the last is terminal."""
    deadline = time.monotonic() + within
    seen: list[TaskStatus] = []
    while True:
        seen.append(await provider.status(task))
        if seen[-1].state.terminal:
            return seen
        assert time.monotonic() < deadline, f"{task.task_id} still {seen[-1].state} in time"
        await asyncio.sleep(POLL_S)


def is_content_route(url: str) -> bool:
    """The OpenAI-style download route, which needs our API key (octopusx, apifree)."""
    return url.split("?", 1)[0].endswith("/content")


async def download(url: str, key: str | None = KEY) -> httpx.Response:
    """GET a result URL as a downloader would: the Bearer key only for a ``/content`` route."""
    headers = {"Authorization": f"Bearer {key}"} if key and is_content_route(url) else {}
    async with plain_client() as client:
        return await client.get(url, headers=headers)


def assert_mp4(response: httpx.Response) -> None:
    assert response.status_code == 200, (response.status_code, response.text[:200])
    assert response.headers["content-type"] == "video/mp4"
    assert response.content[4:8] == b"ftyp"


def assert_recent(epoch_s: float | None) -> None:
    """A timestamp in epoch seconds (not milliseconds) close to now."""
    assert epoch_s is not None
    assert abs(epoch_s - time.time()) < 60, epoch_s
