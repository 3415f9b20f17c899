"""The internal trigger API (Starlette), served on the internal listener only."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from orchestrator.api import routes
from orchestrator.api.errors import HANDLERS
from orchestrator.api.openapi import build_openapi
from orchestrator.operations import Operations
from orchestrator.store import Store

__all__ = ["create_api_app"]


def create_api_app(operations: Operations, store: Store, *, api_token: str | None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/pipelines", routes.create_pipeline, methods=["POST"]),
            Route("/v1/pipelines", routes.list_pipelines, methods=["GET"]),
            Route("/v1/pipelines/{pipeline_id}", routes.get_pipeline, methods=["GET"]),
            Route("/v1/pipelines/{pipeline_id}/cancel", routes.cancel_pipeline, methods=["POST"]),
            Route("/v1/pipelines/{pipeline_id}/events", routes.list_events, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/openapi.json", routes.openapi, methods=["GET"]),
        ],
        exception_handlers=dict[Any, Any](HANDLERS),
    )
    app.state.operations = operations
    app.state.store = store
    app.state.api_token = api_token
    app.state.openapi = build_openapi()
    return app
