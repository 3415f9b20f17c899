"""422s that come from the real adapters' capabilities, before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.providers.registry import build_providers
from orchestrator.settings import Settings
from orchestrator.store import Store


@pytest.fixture
async def api(settings: Settings, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    providers, clients = build_providers(settings.providers())
    app = create_api_app(Operations(store, providers), store, api_token=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client
    for c in clients:
        await c.aclose()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"provider": "apixo", "prompt": "a", "extends": [{"prompt": "b"}, {"prompt": "c"}]},
            "extends[1]",
            "limit of 1",
        ),
        (
            {
                "provider": "apimart",
                "model": "veo3.1-fast-official",
                "prompt": "a",
                "extends": [{"prompt": "b"}],
            },
            "extends[0].model",
            "official",
        ),
        ({"provider": "apifree", "prompt": "a"}, "model", "model"),
        (
            {"provider": "apixo", "prompt": "a", "params": {"resolution": "1080p"}},
            "params.resolution",
            "720p",
        ),
        (
            {"provider": "octopusx", "prompt": "a", "params": {"aspect_ratio": "4:3"}},
            "params.aspect_ratio",
            "4:3",
        ),
        (
            {"provider": "apimart", "prompt": "a", "params": {"duration": 5}},
            "params.duration",
            "5",
        ),
    ],
)
async def test_refused_before_any_money_is_spent(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    """An impossible request for a real provider is a 422 naming the field and the reason."""
    response = await api.post("/v1/pipelines", json=body)
    assert response.status_code == 422, response.text
    problems = {f["field"]: f["message"] for f in response.json()["error"]["fields"]}
    assert field in problems, problems
    assert words.lower() in problems[field].lower()
    assert (await api.get("/v1/pipelines")).json()["items"] == []


async def test_twenty_hops_allowed_twenty_one_refused(api: httpx.AsyncClient) -> None:
    """apimart chains up to 20 extends (D4); the 21st is refused."""
    chain: dict[str, Any] = {"provider": "apimart", "prompt": "a"}
    ok = await api.post("/v1/pipelines", json={**chain, "extends": [{"prompt": "x"}] * 20})
    too_deep = await api.post("/v1/pipelines", json={**chain, "extends": [{"prompt": "x"}] * 21})
    assert ok.status_code == 201
    assert too_deep.status_code == 422
    assert "extends[20]" in {f["field"] for f in too_deep.json()["error"]["fields"]}
