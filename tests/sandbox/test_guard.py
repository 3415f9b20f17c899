"""Bearer-key checks and injected request faults, in each provider's own error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from orchestrator.sandbox import SandboxConfig, create_sandbox_app, guard
from tests.clock import Clock
from tests.sandbox.conftest import Configure, client_for
from tests.skipped_waits import skip_waits

SUBMITS: dict[str, tuple[str, dict[str, Any]]] = {
    "apimart": ("/apimart/v1/videos/generations", {"model": "veo3.1-fast", "prompt": "p"}),
    "octopusx": ("/octopusx/v1/videos", {"model": "veo_3_1", "prompt": "p"}),
    "apixo": (
        "/apixo/api/v1/generateTask/veo-3-1",
        {"input": {"mode": "fast", "prompt": "p", "generationType": "TEXT_2_VIDEO"}},
    ),
    "apifree": ("/apifree/v1/videos", {"model": "m", "prompt": "p"}),
}
PROVIDERS = list(SUBMITS)


def assert_error(provider: str, response: httpx.Response, status: int, kind: str = "") -> None:
    """The response is ``status`` in ``provider``'s documented error body."""
    assert response.status_code == status
    body = response.json()
    if provider == "apimart":
        assert body["error"]["code"] == status
        assert not kind or body["error"]["type"] == kind
    elif provider == "apixo":
        assert (body["code"], body["data"]) == (status, None)
        assert body["message"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}


async def submit(client: httpx.AsyncClient, provider: str, **headers: str) -> httpx.Response:
    path, body = SUBMITS[provider]
    return await client.post(path, json=body, headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("header", ["", "Bearer ", "Basic dXNlcg==", "test-key"])
async def test_missing_or_malformed_key_is_401(
    sandbox: httpx.AsyncClient, provider: str, header: str
) -> None:
    """Without ``Bearer <key>`` every provider answers 401 in its own shape."""
    response = await submit(sandbox, provider, authorization=header)
    assert_error(provider, response, 401, "authentication_error")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_configured_key_must_match(clock: Clock, provider: str) -> None:
    """With ``api_key`` set, only that key is accepted."""
    app: Starlette = create_sandbox_app(SandboxConfig(api_key="s3cret"), clock=clock)
    async with client_for(app, authorization="Bearer s3cret") as client:
        assert (await submit(client, provider)).status_code == 200
        wrong = await submit(client, provider, authorization="Bearer other")
        assert_error(provider, wrong, 401)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limit_fault(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """rate_429 answers 429 with Retry-After in the provider's shape."""
    await configure(rate_429=1.0, retry_after_s=7)
    response = await submit(sandbox, provider)
    assert_error(provider, response, 429, "rate_limit_error")
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_server_error_fault(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """rate_5xx answers one of the provider's documented 5xx statuses."""
    await configure(rate_5xx=1.0)
    for _ in range(5):
        response = await submit(sandbox, provider)
        assert response.status_code in (500, 502, 503)
        assert_error(provider, response, response.status_code)


async def test_faults_hit_status_requests(sandbox: httpx.AsyncClient, configure: Configure) -> None:
    """Status polls meet injected faults too."""
    video_id = (await submit(sandbox, "octopusx")).json()["id"]
    await configure(rate_429=1.0)
    assert (await sandbox.get(f"/octopusx/v1/videos/{video_id}")).status_code == 429


async def test_faults_spare_media_content_and_inspection(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """Result links, ``/content`` and ``/_sandbox`` routes never meet injected faults."""
    video_id = (await submit(sandbox, "octopusx")).json()["id"]
    clock.advance(10)
    url = (await sandbox.get(f"/octopusx/v1/videos/{video_id}")).json()["video_url"]
    await configure(rate_429=0.5, rate_5xx=1.0)
    for path in (url, f"/octopusx/v1/videos/{video_id}/content", "/_sandbox/tasks"):
        assert (await sandbox.get(path)).status_code == 200


async def test_slow_fault_delays_the_answer(
    sandbox: httpx.AsyncClient, configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slow_rate holds the answer back ``slow_seconds`` before answering normally."""
    skipped = skip_waits(monkeypatch, guard)
    await configure(slow_rate=1.0, slow_seconds=7)
    response = await submit(sandbox, "apifree")
    assert response.status_code == 200
    assert skipped.waits == [7]


async def test_seeded_faults_repeat(sandbox: httpx.AsyncClient, configure: Configure) -> None:
    """The same seed gives the same sequence of faults."""
    runs = []
    for _ in range(2):
        await configure(seed=11, rate_429=0.5)
        runs.append([(await submit(sandbox, "apimart")).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 429}
