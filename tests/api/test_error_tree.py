"""One error tree, mapped to HTTP in one place: every error class lands on its status, through
the real API, and a request during shutdown is a 503 the client may retry."""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import orchestrator
from orchestrator import errors
from orchestrator.api import create_api_app
from orchestrator.api.errors import STATUSES, branch_status
from orchestrator.artifacts.storage import StorageUnavailable
from orchestrator.common.database_faults import StoreClosed
from orchestrator.operations import Operations
from orchestrator.plans import PlanRejected
from orchestrator.providers.errors import ProviderError, ProviderUnavailable
from orchestrator.settings import Settings
from orchestrator.store import Store, open_store
from orchestrator.webhooks.endpoints import InvalidEndpoint
from tests.api.helpers import BODY
from tests.fakes import FakeProvider
from tests.loopback import serve_app

# Where each error class lands. A new class must be placed here: deliberately, not by accident.
EXPECTED: dict[str, int | None] = {
    "orchestrator.errors.Rejected": 422,
    "orchestrator.errors.BadRequest": 400,
    "orchestrator.errors.PayloadTooLarge": 413,
    "orchestrator.errors.NotFound": 404,
    "orchestrator.errors.Conflict": 409,
    "orchestrator.errors.Unauthorized": 401,
    "orchestrator.errors.Unavailable": 503,
    "orchestrator.plans.PlanRejected": 422,
    "orchestrator.webhooks.endpoints.InvalidEndpoint": 422,
    "orchestrator.webhooks.ssrf.Refused": 422,
    "orchestrator.webhooks.signing.SecretError": 422,
    "orchestrator.settings.ConfigError": 422,
    "orchestrator.cli.commands.UsageError": 422,
    "orchestrator.artifacts.storage.ArtifactMissing": 404,
    "orchestrator.domain.steps.InvalidTransition": 409,
    "orchestrator.webhooks.signing.SignatureError": 401,
    "orchestrator.common.database_faults.StoreClosed": 503,
    "orchestrator.artifacts.storage.StorageUnavailable": 503,
    "orchestrator.cli.client.Unreachable": 503,
    # Outside the branches (so are the provider errors): a client of the API never meets one,
    # so reaching it is a bug.
    "orchestrator.cli.client.ApiError": None,
    "orchestrator.artifacts.storage.ArtifactError": None,
    "orchestrator.artifacts.s3._RangeNotSatisfiable": None,
}


def every_error_class() -> Iterator[type[errors.ReelayError]]:
    for module in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
        importlib.import_module(module.name)
    todo: list[type[errors.ReelayError]] = [errors.ReelayError]
    while todo:
        for sub in todo.pop().__subclasses__():
            yield sub
            todo.append(sub)


def test_every_error_class_maps_to_its_status() -> None:
    """Every ReelayError below the root is placed, and lands on its branch's status."""
    found = {f"{c.__module__}.{c.__qualname__}": c for c in every_error_class()}
    providers = {name for name, kind in found.items() if issubclass(kind, ProviderError)}
    assert set(found) - providers == set(EXPECTED)
    for name, kind in found.items():
        status = branch_status(kind)
        assert (status and status[0]) == EXPECTED.get(name), name
    assert branch_status(errors.ReelayError) is None


@pytest.fixture
async def api(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, Operations]]:
    operations = Operations(store, {"fake": FakeProvider()})
    app = create_api_app(operations, store, api_token=None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client, operations


BRANCHES: list[tuple[Exception, int, str, list[dict[str, str]]]] = [
    (
        errors.BadRequest("cursor is odd", field="cursor"),
        400,
        "bad_request",
        [{"field": "cursor", "message": "cursor is odd"}],
    ),
    (errors.PayloadTooLarge("body larger than 9 bytes"), 413, "too_large", []),
    (
        PlanRejected([errors.FieldProblem("prompt", "empty"), errors.FieldProblem("tier", "no")]),
        422,
        "invalid_request",
        [{"field": "prompt", "message": "empty"}, {"field": "tier", "message": "no"}],
    ),
    (
        InvalidEndpoint("url", "not http"),
        422,
        "invalid_request",
        [{"field": "url", "message": "not http"}],
    ),
    (errors.NotFound("no pipeline pl_x"), 404, "not_found", []),
    (errors.Conflict("pipeline pl_x already cancelled"), 409, "conflict", []),
    (errors.Unauthorized("no token"), 401, "unauthorized", []),
]


@pytest.mark.parametrize(
    ("error", "status", "code", "fields"), BRANCHES, ids=lambda v: type(v).__name__
)
async def test_each_branch_through_the_api(
    api: tuple[httpx.AsyncClient, Operations],
    error: Exception,
    status: int,
    code: str,
    fields: list[dict[str, str]],
) -> None:
    """Raised by the layer below a route, each branch is its status in the one JSON shape."""
    client, operations = api

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    operations.get = fail  # type: ignore[method-assign]
    response = await client.get("/v1/pipelines/pl_x")
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": str(error), "fields": fields}}
    assert ("www-authenticate" in response.headers) is (status == 401)
    assert ("retry-after" in response.headers) is False


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (StoreClosed("store is not open"), "reelay is shutting down"),
        (StorageUnavailable("reading /srv/reelay/ab/cd.mp4: I/O error"), "the video storage"),
        (sqlite3.OperationalError("database or disk is full"), "the database disk is full"),
        (errors.Unavailable("a hidden detail"), "reelay cannot do this right now"),
    ],
    ids=lambda v: type(v).__name__,
)
async def test_unavailable_is_503_with_a_reason_and_no_detail(
    api: tuple[httpx.AsyncClient, Operations], error: Exception, reason: str
) -> None:
    """Retry later: 503, Retry-After, a short reason; never the exception's own message."""
    client, operations = api

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    operations.get = fail  # type: ignore[method-assign]
    response = await client.get("/v1/pipelines/pl_x")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    body = response.json()["error"]
    assert body["code"] == "unavailable"
    assert body["message"].startswith(reason)
    assert str(error) not in body["message"]


async def test_an_error_outside_the_branches_is_a_500(
    api: tuple[httpx.AsyncClient, Operations],
) -> None:
    """A provider error reaching the API is a bug: 500 in the same shape, no provider text."""
    client, operations = api

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise ProviderUnavailable("upstream says 502", provider="fake", status_code=502)

    operations.get = fail  # type: ignore[method-assign]
    response = await client.get("/v1/pipelines/pl_x")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "upstream" not in response.text


async def test_requests_during_shutdown_are_503_over_http(settings: Settings) -> None:
    """The store closes while the server still answers: every kind of request gets 503 with
    Retry-After and the JSON shape, over a real loopback connection."""
    store = await open_store(settings.database_url)
    app = create_api_app(Operations(store, {"fake": FakeProvider()}), store, api_token=None)
    async with serve_app(app, lifespan="off") as url, httpx.AsyncClient(base_url=url) as client:
        created = await client.post("/v1/pipelines", json=BODY)
        assert created.status_code == 201
        pid = created.json()["id"]
        await store.close()
        answers = [
            await client.get(f"/v1/pipelines/{pid}"),
            await client.get("/v1/pipelines"),
            await client.post("/v1/pipelines", json=BODY),
            await client.post(f"/v1/pipelines/{pid}/cancel"),
            await client.get("/v1/webhook-endpoints"),
        ]
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    for response in answers:
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"] == {
            "code": "unavailable",
            "message": "reelay is shutting down; retry in a few seconds",
            "fields": [],
        }
    assert ready.status_code == 503
    assert alive.status_code == 200


def test_statuses_cover_exactly_the_branches() -> None:
    """The mapping names the five branches and the two refinements of Rejected, nothing else."""
    assert set(STATUSES) == {
        errors.Rejected,
        errors.BadRequest,
        errors.PayloadTooLarge,
        errors.NotFound,
        errors.Conflict,
        errors.Unauthorized,
        errors.Unavailable,
    }
