"""The route table drives routing, the bearer token and the OpenAPI document, so they agree."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.routing import Route

from orchestrator.api import create_api_app
from orchestrator.api.openapi import build_openapi
from orchestrator.api.routing import ApiRoute
from orchestrator.api.table import ROUTES
from orchestrator.domain.models import PipelineStatus
from orchestrator.domain.webhooks import MessageStatus
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.store import Store
from tests.fakes import FakeProvider

TOKEN = "table-token"


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_api_app(Operations(store, {"fake": FakeProvider()}), store, api_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def concrete(path: str) -> str:
    """A path of the route with made-up ids: ``{index}`` a number, any other id a word."""
    return re.sub(r"{(\w+)}", lambda m: "0" if m.group(1) == "index" else "x_unknown", path)


def ids(route: ApiRoute) -> str:
    return f"{route.method} {route.path}"


def test_the_app_serves_exactly_the_table(store: Store) -> None:
    """One Starlette route per table entry, with its method, and no other."""
    app = create_api_app(Operations(store, {}), store, api_token=None)
    served = {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served == {(r.path, r.method) for r in ROUTES}
    assert len(app.routes) == len(ROUTES)


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.public], ids=ids)
async def test_every_token_route_is_served_behind_the_token(
    api: httpx.AsyncClient, route: ApiRoute
) -> None:
    """Without the token: the JSON 401 (from the route, not the router's plain 404/405), even
    before a body is read. With it, the route answers something else."""
    path = concrete(route.path)
    refused = await api.request(route.method, path, content=b"{not json")
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"
    assert refused.headers["www-authenticate"] == "Bearer"
    basic = {"Authorization": f"Basic {TOKEN}"}
    assert (await api.request(route.method, path, headers=basic)).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    # An unknown pipeline: the event stream answers 404 rather than stream forever.
    query = {"pipeline_id": "x_unknown"} if route.path == "/v1/events/stream" else None
    answered = await api.request(route.method, path, json={}, headers=bearer, params=query)
    assert answered.status_code != 401
    assert answered.headers["content-type"] == "application/json", answered.text


@pytest.mark.parametrize("route", [r for r in ROUTES if r.public], ids=ids)
async def test_public_routes_need_no_token(api: httpx.AsyncClient, route: ApiRoute) -> None:
    assert (await api.request(route.method, route.path)).status_code == 200


async def test_the_token_guards_routes_not_the_listener(api: httpx.AsyncClient) -> None:
    """An unknown path or method is the router's 404/405 with or without a token."""
    assert (await api.get("/v1/nothing-here")).status_code == 404
    assert (await api.delete("/v1/pipelines")).status_code == 405


async def test_the_served_document_is_the_tables(api: httpx.AsyncClient) -> None:
    """/openapi.json is built from the table: each documented route once, with its method,
    its security, 401 when it needs the token, and its body's model."""
    spec = (await api.get("/openapi.json")).json()
    assert spec == build_openapi()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == {(r.path, r.method.lower()) for r in ROUTES if r.documented}
    for route in ROUTES:
        if not route.documented:
            continue
        operation = spec["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        assert ("401" in operation["responses"]) is not route.public
        assert (operation.get("security") == []) is route.public
        path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", route.path))
        if route.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{route.body.__name__}"


def test_the_document_loads_as_openapi() -> None:
    """Every operation of the document loads (the schema the contract tests run from)."""
    loaded = schemathesis.openapi.from_dict(build_openapi())
    operations = [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(r.documented for r in ROUTES)


def test_schemas_come_from_the_models() -> None:
    """A request body's documented fields are the model's own."""
    spec = build_openapi()
    documented = spec["components"]["schemas"]["PipelineRequest"]["properties"]
    assert set(documented) == set(PipelineRequest.model_json_schema()["properties"])


def _parameter(operation_id: str, name: str) -> dict[str, Any]:
    for path in build_openapi()["paths"].values():
        for operation in path.values():
            if operation["operationId"] == operation_id:
                found: dict[str, Any] = next(
                    p for p in operation["parameters"] if p["name"] == name
                )
                return found
    raise AssertionError(operation_id)


def test_status_enums_are_the_models() -> None:
    assert _parameter("listPipelines", "status")["schema"]["enum"] == list(PipelineStatus)
    assert _parameter("listWebhookMessages", "status")["schema"]["enum"] == list(MessageStatus)


@pytest.mark.parametrize(
    ("operation_id", "path"),
    [
        ("listPipelines", "/v1/pipelines"),
        ("listWebhookMessages", "/v1/webhook-messages"),
    ],
)
async def test_documented_bounds_are_the_enforced_ones(
    api: httpx.AsyncClient, operation_id: str, path: str
) -> None:
    """The documented ``limit`` bounds are taken; one past either is a 400 naming it."""
    schema = _parameter(operation_id, "limit")["schema"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for limit in (schema["minimum"], schema["maximum"]):
        ok = await api.get(path, params={"limit": limit}, headers=bearer)
        assert ok.status_code == 200, ok.text
    for limit in (schema["minimum"] - 1, schema["maximum"] + 1):
        bad = await api.get(path, params={"limit": limit}, headers=bearer)
        assert bad.status_code == 400
        assert bad.json()["error"]["fields"] == [
            {"field": "limit", "message": bad.json()["error"]["message"]}
        ]
