"""The internal API over ASGITransport, on a real SQLite store and a fake provider."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.store import Store
from tests.api.helpers import BODY, TOKEN
from tests.fakes import FakeProvider


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    providers = {"fake": FakeProvider(max_extend_depth=1), "deep": FakeProvider(name="deep")}
    app = create_api_app(Operations(store, providers), store, api_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c:
        yield c


async def test_create_then_get(api: httpx.AsyncClient) -> None:
    """A created pipeline is returned with 201 and can be read back with its steps."""
    created = await api.post("/v1/pipelines", json=BODY)
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "pending"
    assert [(s["index"], s["kind"], s["parent"]) for s in body["steps"]] == [
        (0, "generate", None),
        (1, "extend", 0),
        (2, "extend", 0),
    ]
    got = await api.get(f"/v1/pipelines/{body['id']}")
    assert got.status_code == 200
    assert got.json()["metadata"] == {"job": 7}


async def test_idempotency_key(api: httpx.AsyncClient) -> None:
    """The same key and body return the same pipeline (200); another body is 409."""
    first = await api.post("/v1/pipelines", json=BODY, headers={"Idempotency-Key": "k1"})
    again = await api.post("/v1/pipelines", json=BODY, headers={"Idempotency-Key": "k1"})
    other = await api.post(
        "/v1/pipelines", json={**BODY, "prompt": "else"}, headers={"Idempotency-Key": "k1"}
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert first.json()["id"] == again.json()["id"]
    listing = await api.get("/v1/pipelines")
    assert len(listing.json()["items"]) == 1


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {f["field"] for f in response.json()["error"]["fields"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "provider": "nope"}, "provider"),
        ({k: v for k, v in BODY.items() if k != "prompt"}, "prompt"),
        ({**BODY, "prompt": ""}, "prompt"),
        ({**BODY, "extends": [{"prompt": "x", "from": 1}]}, "extends[0].from"),
        ({**BODY, "extends": [{"prompt": "x"}, {"prompt": "y", "from": 5}]}, "extends[1].from"),
        ({**BODY, "extends": [{"prompt": "x"}, {"prompt": "y"}]}, "extends[1]"),
        ({**BODY, "params": {"aspect_ratio": "4:3"}}, "params.aspect_ratio"),
        (
            {**BODY, "extends": [{"prompt": "x", "params": {"aspect_ratio": "1:1"}}]},
            "extends[0].params.aspect_ratio",
        ),
        ({**BODY, "model": "nope"}, "model"),
        ({**BODY, "tier": "ultra"}, "tier"),
        ({**BODY, "params": {"duration": "long"}}, "params.duration"),
        ({**BODY, "params": {"colour": "red"}}, "params.colour"),
        ({**BODY, "surprise": 1}, "surprise"),
        ({**BODY, "webhook_url": "ftp://x"}, "webhook_url"),
    ],
)
async def test_refusals_name_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """Each refused request is a 422 naming the bad field, and nothing is stored."""
    assert field in _fields(await api.post("/v1/pipelines", json=body))
    assert (await api.get("/v1/pipelines")).json()["items"] == []


async def test_every_bad_field_is_named_at_once(api: httpx.AsyncClient) -> None:
    """Several problems in one request are all reported together."""
    body = {**BODY, "params": {"aspect_ratio": "4:3"}, "extends": [{"prompt": "x", "from": 3}]}
    assert _fields(await api.post("/v1/pipelines", json=body)) == {
        "params.aspect_ratio",
        "extends[0].from",
    }


async def test_deep_chains_allowed_where_provider_allows(api: httpx.AsyncClient) -> None:
    """A provider with a deep limit accepts an extend of an extend."""
    body = {**BODY, "provider": "deep", "extends": [{"prompt": "x"}, {"prompt": "y"}]}
    assert (await api.post("/v1/pipelines", json=body)).status_code == 201


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    """A body that is not JSON gets 400."""
    response = await api.post(
        "/v1/pipelines", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


async def test_unknown_id_is_404(api: httpx.AsyncClient) -> None:
    """Reading or cancelling an unknown pipeline is 404."""
    assert (await api.get("/v1/pipelines/pl_nope")).status_code == 404
    assert (await api.post("/v1/pipelines/pl_nope/cancel")).status_code == 404


async def test_bad_token_is_401(api: httpx.AsyncClient) -> None:
    """A missing or wrong bearer token is 401; health checks need none."""
    wrong = await api.get("/v1/pipelines", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert (await api.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_cancel(api: httpx.AsyncClient) -> None:
    """Cancel cancels every unfinished step and says so in the events."""
    pid = (await api.post("/v1/pipelines", json=BODY)).json()["id"]
    cancelled = await api.post(f"/v1/pipelines/{pid}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert {s["status"] for s in cancelled.json()["steps"]} == {"cancelled"}
    events = (await api.get(f"/v1/pipelines/{pid}/events")).json()["items"]
    assert events[0]["type"] == "pipeline.created"
    assert [e["type"] for e in events[-2:]] == ["pipeline.cancelled", "action.cancelled"]
    assert events[-1]["data"] == {"actor": "api", "reason": None}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_list_filters_and_pages(api: httpx.AsyncClient) -> None:
    """Listing pages newest first with a cursor and filters by status."""
    ids = [(await api.post("/v1/pipelines", json=BODY)).json()["id"] for _ in range(5)]
    page1 = (await api.get("/v1/pipelines", params={"limit": 2})).json()
    page2 = (
        await api.get("/v1/pipelines", params={"limit": 2, "cursor": page1["next_cursor"]})
    ).json()
    assert [p["id"] for p in page1["items"] + page2["items"]] == ids[::-1][:4]
    await api.post(f"/v1/pipelines/{ids[0]}/cancel")
    cancelled = (await api.get("/v1/pipelines", params={"status": "cancelled"})).json()
    assert [p["id"] for p in cancelled["items"]] == [ids[0]]
    bad = await api.get("/v1/pipelines", params={"limit": "many"})
    assert bad.status_code == 400


async def test_openapi_describes_every_route(api: httpx.AsyncClient, store: Store) -> None:
    """/openapi.json has every route the API serves, with its method, and every $ref resolves."""
    spec = (await api.get("/openapi.json")).json()
    app = create_api_app(Operations(store, {}), store, api_token=None)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route) and route.path != "/openapi.json"
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"])


async def test_blank_prompts_are_refused(api: httpx.AsyncClient) -> None:
    """A prompt of only whitespace (base, extend in the body, or extend on demand) is 422
    naming the field, and nothing is stored."""
    body = {**BODY, "prompt": " \n\t", "extends": [{"prompt": "  ", "from": 0}]}
    refused = await api.post("/v1/pipelines", json=body)
    assert refused.status_code == 422
    fields = [f["field"] for f in refused.json()["error"]["fields"]]
    assert fields == ["prompt", "extends[0].prompt"]
    assert (await api.get("/v1/pipelines")).json()["items"] == []
    pid = (await api.post("/v1/pipelines", json=BODY)).json()["id"]
    extend = await api.post(f"/v1/pipelines/{pid}/extends", json={"prompt": " ", "from": 0})
    assert extend.status_code == 422
    assert [f["field"] for f in extend.json()["error"]["fields"]] == ["prompt"]


async def test_cancelling_an_ended_pipeline_is_409(api: httpx.AsyncClient) -> None:
    """A second cancel is a conflict, as for any pipeline that already ended."""
    pid = (await api.post("/v1/pipelines", json=BODY)).json()["id"]
    assert (await api.post(f"/v1/pipelines/{pid}/cancel")).status_code == 200
    again = await api.post(f"/v1/pipelines/{pid}/cancel")
    assert again.status_code == 409
    assert "cancelled" in again.json()["error"]["message"]


async def test_malformed_cursor_is_400(api: httpx.AsyncClient) -> None:
    """A cursor that is not a pipeline id is refused naming it, not answered with no items."""
    bad = await api.get("/v1/pipelines", params={"cursor": "garbage"})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "https://localhost/hook", "https://[::1]/h"]
)
async def test_private_webhook_url_is_refused_at_create(
    api: httpx.AsyncClient, store: Store, url: str
) -> None:
    """A webhook_url every delivery would refuse is 422 naming webhook_url and the setting
    that allows it; with the setting on it is accepted."""
    refused = await api.post("/v1/pipelines", json={**BODY, "webhook_url": url})
    assert refused.status_code == 422
    [field] = refused.json()["error"]["fields"]
    assert field["field"] == "webhook_url"
    assert "REELAY_WEBHOOK_ALLOW_PRIVATE" in field["message"]
    lenient = Operations(store, {"fake": FakeProvider()}, allow_private_webhooks=True)
    app = create_api_app(lenient, store, api_token=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        accepted = await client.post("/v1/pipelines", json={**BODY, "webhook_url": url})
    assert accepted.status_code == 201
