"""Property-based API testing from /openapi.json: no 5xx, every response matches the schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orchestrator.api import create_api_app
from orchestrator.api.openapi import build_openapi
from orchestrator.operations import Operations
from orchestrator.providers.registry import build_providers
from orchestrator.settings import load_settings
from orchestrator.store import open_store
from orchestrator.webhooks.endpoints import WebhookOperations
from tests.loopback import serve_app


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real internal API (real providers' validation, real SQLite) on loopback."""
    root: Path = tmp_path_factory.mktemp("schemathesis")
    ready, stop = threading.Event(), threading.Event()
    url: dict[str, str] = {}

    async def serve() -> None:
        config = load_settings(database_url=f"sqlite:///{root / 'api.db'}", _env_file=None)
        store = await open_store(config.database_url)
        providers, clients = build_providers(config.providers())
        app = create_api_app(
            Operations(store, providers),
            store,
            api_token=None,
            webhooks=WebhookOperations(store),
            webhook_secrets=["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"],
        )
        async with serve_app(app, lifespan="off") as base:
            url["base"] = base
            ready.set()
            await asyncio.to_thread(stop.wait)
        for client in clients:
            await client.aclose()
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield url["base"]
    stop.set()
    thread.join(20)


# What the API promises for every request: no 5xx, and responses (status, content type,
# headers, body) as documented. Acceptance of every schema-valid body is not promised: the
# providers' own limits (e.g. apixo's aspect ratios) go beyond what one schema can say, and
# such requests are answered 422 naming the field.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operations() -> list[Any]:
    spec = build_openapi()
    loaded = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]
    # The event stream never ends; its behaviour has its own tests.
    return [op for op in operations if op.path != "/v1/events/stream"]


@pytest.mark.parametrize(
    "operation", _operations(), ids=lambda op: f"{op.method.upper()} {op.path}"
)
def test_api_conforms_to_its_schema(api_url: str, operation: Any) -> None:
    """Generated requests never cause a 5xx, and every response matches the documented schema
    (schemathesis checks, driven through Hypothesis directly)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case: Any) -> None:
        response = case.call(base_url=api_url)
        case.validate_response(response, checks=CHECKS)

    check()
