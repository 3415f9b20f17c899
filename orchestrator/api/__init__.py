"""The internal trigger API (Starlette), served on the internal listener only."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from orchestrator.api import routes, webhook_routes
from orchestrator.api.errors import HANDLERS
from orchestrator.api.metrics_route import metrics as metrics_route
from orchestrator.api.openapi import build_openapi
from orchestrator.api.outage import LOG_EVERY_S, StoreFaults, Throttle
from orchestrator.api.readiness import WriteProbe
from orchestrator.api.stream import stream_events
from orchestrator.api.video_routes import step_video
from orchestrator.artifacts.storage import ArtifactStorage
from orchestrator.metrics import Metrics
from orchestrator.operations import Operations
from orchestrator.store import Store
from orchestrator.webhooks.endpoints import WebhookOperations

__all__ = ["create_api_app"]


def create_api_app(
    operations: Operations,
    store: Store,
    *,
    api_token: str | None,
    webhooks: WebhookOperations | None = None,
    webhook_secrets: Sequence[str] = (),
    storage: ArtifactStorage | None = None,
    provider_health: Callable[[], dict[str, dict[str, object]]] | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """``clock`` paces the outage log lines and the readiness probe's cache."""
    w = webhook_routes
    app = Starlette(
        routes=[
            Route("/v1/pipelines", routes.create_pipeline, methods=["POST"]),
            Route("/v1/pipelines", routes.list_pipelines, methods=["GET"]),
            Route("/v1/pipelines/{pipeline_id}", routes.get_pipeline, methods=["GET"]),
            Route("/v1/pipelines/{pipeline_id}/cancel", routes.cancel_pipeline, methods=["POST"]),
            Route("/v1/pipelines/{pipeline_id}/events", routes.list_events, methods=["GET"]),
            Route("/v1/pipelines/{pipeline_id}/extends", routes.add_extend, methods=["POST"]),
            Route("/v1/pipelines/{pipeline_id}/retry", routes.retry_pipeline, methods=["POST"]),
            Route(
                "/v1/pipelines/{pipeline_id}/steps/{index}/video",
                step_video,
                methods=["GET", "HEAD"],
            ),
            Route("/v1/events/stream", stream_events, methods=["GET"]),
            Route("/v1/webhook-endpoints", w.create_endpoint, methods=["POST"]),
            Route("/v1/webhook-endpoints", w.list_endpoints, methods=["GET"]),
            Route("/v1/webhook-endpoints/{endpoint_id}", w.get_endpoint, methods=["GET"]),
            Route("/v1/webhook-endpoints/{endpoint_id}", w.update_endpoint, methods=["PATCH"]),
            Route("/v1/webhook-endpoints/{endpoint_id}", w.delete_endpoint, methods=["DELETE"]),
            Route(
                "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
                w.rotate_secret,
                methods=["POST"],
            ),
            Route("/v1/webhook-messages", w.list_messages, methods=["GET"]),
            Route("/v1/webhook-messages/redeliver", w.redeliver_failed, methods=["POST"]),
            Route("/v1/webhook-messages/{message_id}", w.get_message, methods=["GET"]),
            Route(
                "/v1/webhook-messages/{message_id}/redeliver",
                w.redeliver_message,
                methods=["POST"],
            ),
            Route("/v1/webhook-secret", w.webhook_secret, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/openapi.json", routes.openapi, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ],
        exception_handlers=dict[Any, Any](HANDLERS),
        middleware=[Middleware(StoreFaults, throttle=Throttle(LOG_EVERY_S, clock))],
    )
    app.state.operations = operations
    app.state.webhooks = webhooks or WebhookOperations(store, wake=lambda: None)
    app.state.webhook_secrets = tuple(webhook_secrets)
    app.state.storage = storage
    app.state.provider_health = provider_health
    app.state.store = store
    app.state.write_probe = WriteProbe(store, clock=clock)
    app.state.api_token = api_token
    app.state.openapi = build_openapi()
    app.state.metrics = metrics or Metrics(store)
    return app
