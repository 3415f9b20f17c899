"""POST /v1/pipelines/batch over ASGITransport, on a real SQLite store (and once on PostgreSQL):
each item as POST /v1/pipelines would take it, all in one transaction, one result per item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.api.batch_schemas import MAX_ITEMS
from orchestrator.api.openapi import build_openapi
from orchestrator.operations import Operations
from orchestrator.settings import Settings
from orchestrator.store import Connection, Store, open_store
from orchestrator.store.sqlite import SqliteBackend
from tests.api.helpers import BODY, TOKEN
from tests.fakes import FakeProvider
from tests.store import sql

BATCH = "/v1/pipelines/batch"


class CountingBackend:
    """A SQLite backend (a ``Backend``) that counts the write transactions it opens."""

    def __init__(self, inner: SqliteBackend) -> None:
        self.inner = inner
        self.shared = inner.shared
        self.transactions = 0

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        self.transactions += 1
        return self.inner.transaction()

    def reader(self) -> AbstractAsyncContextManager[Connection]:
        return self.inner.reader()

    async def migrate(self) -> None:
        await self.inner.migrate()

    async def close(self) -> None:
        await self.inner.close()

    def is_transient(self, exc: BaseException) -> bool:
        return self.inner.is_transient(exc)

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        await self.inner.listen(on_notify)


@asynccontextmanager
async def client_of(
    store: Store, wakes: list[None] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    def wake() -> None:
        if wakes is not None:
            wakes.append(None)

    ops = Operations(store, {"fake": FakeProvider(max_extend_depth=1)}, wake=wake)
    app = create_api_app(ops, store, api_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c:
        yield c


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(store) as client:
        yield client


def item(key: str | None = None, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"pipeline": {**BODY, **changes}}
    if key is not None:
        found["idempotency_key"] = key
    return found


def statuses(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [i["status"] for i in response.json()["items"]]


async def test_each_item_is_answered_in_order(api: httpx.AsyncClient) -> None:
    """Created (201), refused by validation or by the plan (422 naming the single route's
    fields), key reused with another body (409), replayed (200), a key repeated in the batch."""
    earlier = await api.post("/v1/pipelines", json=BODY, headers={"Idempotency-Key": "old"})
    answer = await api.post(
        BATCH,
        json={
            "items": [
                item("k1"),
                item("bad", prompt=" "),
                item("plan", extends=[{"prompt": "x", "from": 3}]),
                item("old", prompt="another body"),
                item("old"),
                item("k1"),
                item("k1", prompt="another body"),
                item(),
            ]
        },
    )
    assert statuses(answer) == [201, 422, 422, 409, 200, 200, 409, 201]
    results = answer.json()["items"]
    assert results[0]["pipeline"]["status"] == "pending"
    assert [s["kind"] for s in results[0]["pipeline"]["steps"]] == ["generate", "extend", "extend"]
    assert results[1]["error"]["code"] == "invalid_request"
    assert [f["field"] for f in results[1]["error"]["fields"]] == ["prompt"]
    assert [f["field"] for f in results[2]["error"]["fields"]] == ["extends[0].from"]
    assert results[3]["error"] == {
        "code": "conflict",
        "message": "idempotency_key was already used with a different request body",
        "fields": [],
    }
    assert results[4]["pipeline"] == earlier.json()
    assert results[5]["pipeline"]["id"] == results[0]["pipeline"]["id"]
    assert results[7]["pipeline"]["id"] != results[0]["pipeline"]["id"]


async def test_items_are_audited_like_single_creates(api: httpx.AsyncClient) -> None:
    """Each new pipeline's events are those of POST /v1/pipelines, action.created naming the
    token; a replay adds none."""
    single = (await api.post("/v1/pipelines", json=BODY)).json()["id"]
    first = (await api.post(BATCH, json={"items": [item("a")]})).json()["items"][0]
    await api.post(BATCH, json={"items": [item("a")]})

    async def events(pipeline_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await api.get(f"/v1/pipelines/{pipeline_id}/events")).json()[
            "items"
        ]
        return found

    batched = await events(first["pipeline"]["id"])
    assert [e["type"] for e in batched] == [e["type"] for e in await events(single)]
    audit = next(e for e in batched if e["type"] == "action.created")
    assert audit["data"] == {"actor": "api", "reason": None}


async def test_what_was_answered_is_what_is_stored(
    settings: Settings, api: httpx.AsyncClient
) -> None:
    """Once answered, the database (read on a connection of its own) holds exactly the
    pipelines answered 201, each under its key."""
    items = [item(f"k{n}", prompt=f"p{n}") for n in range(20)] + [item("k3"), item(prompt="")]
    results = (await api.post(BATCH, json={"items": items})).json()["items"]
    created = {r["pipeline"]["id"] for r in results if r["status"] == 201}
    assert len(created) == 20
    stored = await sql.rows(settings.database_url, "SELECT id, idempotency_key FROM pipelines")
    assert {r["id"] for r in stored} == created
    assert sorted(r["idempotency_key"] for r in stored) == sorted(f"k{n}" for n in range(20))


async def test_a_full_batch_is_one_transaction_and_one_wake(tmp_path: Path) -> None:
    """1,000 pipelines are written in one transaction, and the engine is woken once."""
    backend = CountingBackend(SqliteBackend(tmp_path / "count.db"))
    await backend.inner.open()
    store = Store(backend)
    await store.migrate()
    wakes: list[None] = []
    try:
        async with client_of(store, wakes) as api:
            items = [item(f"k{n}", prompt=f"p{n}") for n in range(MAX_ITEMS)]
            before = backend.transactions
            answer = await api.post(BATCH, json={"items": items})
            assert statuses(answer) == [201] * MAX_ITEMS
            assert backend.transactions - before == 1
            assert wakes == [None]
            counts = (await api.get("/v1/pipelines/counts")).json()
            assert counts["total"] == MAX_ITEMS
            again = await api.post(BATCH, json={"items": items})
            assert statuses(again) == [200] * MAX_ITEMS
            assert wakes == [None]  # nothing new: nothing to wake for
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [item()] * (MAX_ITEMS + 1)}, "items"),
        ({"items": []}, "items"),
        ({}, "items"),
        ([item()], "body"),
        ({"items": [{"idempotency_key": "k"}]}, "items[0].pipeline"),
        ({"items": [{**item(), "priority": 1}]}, "items[0].priority"),
        ({"items": [item(), item("")]}, "items[1].idempotency_key"),
    ],
)
async def test_a_malformed_batch_is_refused_whole(
    api: httpx.AsyncClient, body: Any, field: str
) -> None:
    """The envelope is the request's body: a wrong one is a 422 naming the field, and nothing
    in it is created."""
    refused = await api.post(BATCH, json=body)
    assert refused.status_code == 422, refused.text
    assert field in {f["field"] for f in refused.json()["error"]["fields"]}
    assert (await api.get("/v1/pipelines/counts")).json()["total"] == 0


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    assert (await api.post(BATCH, content=b"{not json")).status_code == 400


def test_the_document_describes_the_route() -> None:
    """The batch route is documented with its envelope, each item's pipeline being the single
    route's body, and its answer of one result per item."""
    spec = build_openapi()
    operation = spec["paths"][BATCH]["post"]
    assert operation["operationId"] == "createPipelines"
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/BatchIn"}
    schemas = spec["components"]["schemas"]
    assert schemas["BatchItemIn"]["properties"]["pipeline"]["$ref"].endswith("/PipelineRequest")
    assert schemas["BatchIn"]["properties"]["items"]["maxItems"] == MAX_ITEMS
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/BatchOut"}
    assert set(operation["responses"]) == {"200", "400", "401", "413", "422", "503"}


@pytest.mark.postgres
async def test_a_batch_on_postgres(pg_url: str) -> None:
    """On PostgreSQL too: in-batch key repeats, replays, conflicts and refusals, in order."""
    store = await open_store(pg_url)
    try:
        async with client_of(store) as api:
            items = [item("a"), item("a"), item("a", prompt="other"), item(prompt=""), item("b")]
            assert statuses(await api.post(BATCH, json={"items": items})) == [
                201,
                200,
                409,
                422,
                201,
            ]
            assert statuses(await api.post(BATCH, json={"items": items})) == [
                200,
                200,
                409,
                422,
                200,
            ]
            assert (await api.get("/v1/pipelines/counts")).json()["total"] == 2
    finally:
        await store.close()
