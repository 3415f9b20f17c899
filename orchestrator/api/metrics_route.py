"""``GET /metrics``: the Prometheus scrape target.

Served without a bearer token, like ``/healthz``, even when ``REELAY_API_TOKEN`` is set:
scrapers rarely carry one. The route exists on the internal listener only (the internal API
app), never on the public receiver, so whoever can reach that listener can read it; the numbers
name providers, states and reasons, never pipelines, prompts, URLs or secrets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.metrics import CONTENT_TYPE, Metrics


async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(await registry.render(), media_type=CONTENT_TYPE)
