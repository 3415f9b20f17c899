"""The routes for machines rather than users: liveness, readiness, the OpenAPI document and
the Prometheus scrape target.

``/metrics`` is served without a bearer token, like ``/healthz``, even when
``REELAY_API_TOKEN`` is set: scrapers rarely carry one. The route exists on the internal
listener only (the internal API app), never on the public receiver, so whoever can reach that
listener can read it; the numbers name providers, states and reasons, never pipelines, prompts,
URLs or secrets.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.api.errors import RETRY_AFTER_S
from orchestrator.api.schemas import HealthOut, json_response
from orchestrator.api.services import services
from orchestrator.metrics import CONTENT_TYPE


async def healthz(request: Request) -> Response:
    return json_response(HealthOut(status="ok"))


async def readyz(request: Request) -> Response:
    """503 when the database does not take a write (with why, in a few words). A degraded
    provider does not make reelay unready (its other providers work, and its steps wait):
    it is named in ``detail.degraded_providers``, with each provider's state."""
    serving = services(request)
    problem = await serving.write_probe.problem()
    detail: dict[str, Any] = {"database": problem or "ok"}
    if serving.provider_health is not None:
        providers = serving.provider_health()
        detail["degraded_providers"] = {
            name: state.get("reasons", [])
            for name, state in providers.items()
            if state.get("degraded")
        }
        detail["providers"] = providers
    if problem is not None:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        body = HealthOut(status="unavailable", detail=detail).model_dump_json()
        return Response(body, 503, headers, media_type="application/json")
    return json_response(HealthOut(status="ready", detail=detail))


async def openapi(request: Request) -> Response:
    return JSONResponse(services(request).openapi)


async def metrics(request: Request) -> Response:
    return Response(await services(request).metrics.render(), media_type=CONTENT_TYPE)
