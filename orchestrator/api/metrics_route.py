"""``GET /metrics``: the Prometheus scrape target.

Served without a bearer token, like ``/healthz``: scrapers rarely carry one. That is safe only
because the route exists on the internal listener alone (the internal API app), never on the
public receiver; the numbers name providers and states, never pipelines, prompts or secrets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.metrics import CONTENT_TYPE, Metrics


async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(await registry.render(), media_type=CONTENT_TYPE)
