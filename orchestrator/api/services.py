"""What the API's handlers work with, typed: one object on the app, read with ``services``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from orchestrator.api.readiness import WriteProbe
from orchestrator.artifacts.storage import ArtifactStorage
from orchestrator.branch_videos import BranchVideos
from orchestrator.engine.provider_report import ProviderReport
from orchestrator.metrics import Metrics
from orchestrator.operations import Operations
from orchestrator.spending import Spending
from orchestrator.store import Store
from orchestrator.webhooks.endpoints import WebhookOperations

ProviderHealth = Callable[[], dict[str, dict[str, object]]]


@dataclass(frozen=True, slots=True)
class ApiServices:
    operations: Operations
    webhooks: WebhookOperations
    store: Store
    metrics: Metrics
    write_probe: WriteProbe
    openapi: Mapping[str, Any]
    """The document served at ``/openapi.json``, built once from the route table."""
    spending: Spending
    """Spend and budgets."""
    videos: BranchVideos
    """Each branch's whole video."""
    api_tokens: Mapping[str, str] = field(default_factory=dict)
    """Every bearer token by its name (``REELAY_API_TOKEN`` is ``api``); empty serves every
    route without a token."""
    webhook_secrets: tuple[str, ...] = ()
    storage: ArtifactStorage | None = None
    """Where kept videos are read from; None when downloads are off."""
    provider_health: ProviderHealth | None = None
    provider_report: ProviderReport | None = None
    """What each provider is doing (``GET /v1/providers``); None when there is no engine."""


def services(connection: HTTPConnection) -> ApiServices:
    """The services of the app that ``connection`` (a request) reached."""
    found = connection.app.state.services
    assert isinstance(found, ApiServices), "the app was not made by create_api_app"
    return found
