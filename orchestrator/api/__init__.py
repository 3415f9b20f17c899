"""The internal trigger API (Starlette), served on the internal listener only.

Its routes are declared once, in ``table``; its errors become HTTP answers in one place,
``failures`` (with the statuses in ``errors``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from orchestrator.api.failures import LOG_EVERY_S, Failures, Throttle
from orchestrator.api.openapi import build_openapi
from orchestrator.api.readiness import WriteProbe
from orchestrator.api.services import ApiServices, ProviderHealth
from orchestrator.api.table import ROUTES
from orchestrator.artifacts.storage import ArtifactStorage
from orchestrator.branch_videos import BranchVideos
from orchestrator.engine.provider_report import ProviderReport
from orchestrator.metrics import Metrics
from orchestrator.operations import Operations
from orchestrator.settings import API_TOKEN_NAME
from orchestrator.spending import Spending, unlimited
from orchestrator.store import Store
from orchestrator.webhooks.endpoints import WebhookOperations

__all__ = ["create_api_app"]


def create_api_app(
    operations: Operations,
    store: Store,
    *,
    api_token: str | None,
    api_tokens: Mapping[str, str] | None = None,
    webhooks: WebhookOperations | None = None,
    webhook_secrets: Sequence[str] = (),
    storage: ArtifactStorage | None = None,
    provider_health: ProviderHealth | None = None,
    metrics: Metrics | None = None,
    provider_report: ProviderReport | None = None,
    clock: Callable[[], float] = time.monotonic,
    mounts: Sequence[BaseRoute] = (),
    spending: Spending | None = None,
    videos: BranchVideos | None = None,
) -> Starlette:
    """``api_token`` is the bearer token named ``api``; ``api_tokens`` are more, by name (the
    name is the actor of the requests made with it). With neither, every route is open.
    ``clock`` paces the outage log lines and the readiness probe's cache. ``mounts`` are
    served beside the API's routes, with its services (the dashboard)."""
    named = dict(api_tokens or {})
    if api_token is not None and API_TOKEN_NAME in named:
        raise ValueError(f"two tokens named {API_TOKEN_NAME!r}: api_token and api_tokens")
    tokens = named if api_token is None else {API_TOKEN_NAME: api_token, **named}
    app = Starlette(
        routes=[*mounts, *(r.starlette_route() for r in ROUTES)],
        middleware=[Middleware(Failures, throttle=Throttle(LOG_EVERY_S, clock))],
    )
    app.state.services = ApiServices(
        operations=operations,
        webhooks=webhooks or WebhookOperations(store, wake=lambda: None),
        store=store,
        metrics=metrics or Metrics(store),
        write_probe=WriteProbe(store, clock=clock),
        openapi=build_openapi(ROUTES),
        spending=spending or Spending(store, unlimited()),
        videos=videos or BranchVideos(store, clock=time.time, wake=lambda: None),
        api_tokens=tokens,
        webhook_secrets=tuple(webhook_secrets),
        storage=storage,
        provider_health=provider_health,
        provider_report=provider_report,
    )
    return app
