"""The list's filters over HTTP: creation times, text, counts; a bad value is a 400 naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.store import Store
from tests.api.helpers import BODY, TOKEN
from tests.clock import Clock
from tests.fakes import FakeProvider

DAY = 86_400.0


@pytest.fixture
async def api(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock(1_796_342_400.0)  # 2026-12-04T00:00:00Z
    ops = Operations(store, {"fake": FakeProvider(max_extend_depth=1)}, clock=clock)
    app = create_api_app(ops, store, api_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c:
        yield c, clock


async def _create(client: httpx.AsyncClient, prompt: str, **extra: object) -> str:
    answer = await client.post("/v1/pipelines", json={**BODY, "prompt": prompt, **extra})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_created_dates_and_text_filter_the_list(
    api: tuple[httpx.AsyncClient, Clock],
) -> None:
    """``created_to`` as a date includes that whole day; ``q`` searches prompts and metadata."""
    client, clock = api
    first = await _create(client, "a red fox")
    clock.advance(DAY)
    second = await _create(client, "a paper boat", metadata={"campaign": "autumn"})

    async def ids(query: str) -> list[str]:
        answer = await client.get(f"/v1/pipelines?{query}")
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]]

    assert await ids("created_to=2026-12-04") == [first]
    assert await ids("created_from=2026-12-05") == [second]
    assert await ids("created_from=2026-12-04T12:00:00Z") == [second]
    assert await ids("q=FOX") == [first]
    assert await ids("q=autumn") == [second]


async def test_counts_by_status(api: tuple[httpx.AsyncClient, Clock]) -> None:
    """Every status with its count, and the total, under the same filters."""
    client, _ = api
    await _create(client, "a red fox")
    await _create(client, "a paper boat")
    answer = await client.get("/v1/pipelines/counts")
    assert answer.status_code == 200
    assert answer.json() == {
        "counts": {"pending": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0},
        "total": 2,
    }
    narrowed = await client.get("/v1/pipelines/counts?q=boat")
    assert narrowed.json()["total"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("created_from=yesterday", "created_from"),
        ("created_to=2026-13-01", "created_to"),
        ("q=", "q"),
        ("q=" + "x" * 201, "q"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_it(
    api: tuple[httpx.AsyncClient, Clock], query: str, field: str
) -> None:
    """The list and the counts refuse the same bad values, naming the parameter."""
    client, _ = api
    for path in ("/v1/pipelines", "/v1/pipelines/counts"):
        answer = await client.get(f"{path}?{query}")
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["fields"][0]["field"] == field
