"""``GET /v1/providers``: what each provider is doing (``engine.provider_report``), as JSON.

``provider_report`` is the route's answer as a model, for a caller in a layer above that
serves it some other way (the dashboard). An app built without an engine reports no provider.
Times are ISO 8601 (UTC); this replica's own numbers, except ``in_flight`` (every replica's).
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.schemas import iso, json_response
from orchestrator.api.services import services
from orchestrator.engine.provider_report import ProviderState
from orchestrator.engine.request_stats import RecentError


class RecentErrorOut(BaseModel):
    at: str
    operation: str
    """``generate``, ``extend`` or ``status``."""
    outcome: str
    """The HTTP status, or the error's class name when no answer came (``ReadTimeout``)."""
    message: str
    """The provider's code and message, with keys and tokens redacted, cut to 200 characters."""


class ProviderOut(BaseModel):
    name: str
    configured: bool
    """An API key is set for it."""
    degraded: bool
    reasons: list[str]
    in_flight: int
    """Its tasks submitted or running, across every replica."""
    window: int
    """Requests this replica may have in flight to it at once (halved by each 429)."""
    cooldown_until: str | None
    """The end of a 429 cooldown still running."""
    paused: bool
    """Submissions paused by a 402 until a probe submit passes."""
    paused_at: str | None
    last_probe_at: str | None
    last_probe_result: str | None
    """``succeeded``, ``insufficient_balance`` or ``failed``."""
    requests_last_hour: int
    error_rate: float | None
    """Requests that failed (5xx, 408, no answer) over all requests; null with none."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    recent_errors: list[RecentErrorOut]
    """Its last 20 failed submits and polls, oldest first."""


class ProviderListOut(BaseModel):
    items: list[ProviderOut]


async def provider_report(request: Request) -> ProviderListOut:
    """Every provider's state, for the app that ``request`` reached."""
    report = services(request).provider_report
    states = [] if report is None else await report.states()
    return ProviderListOut(items=[provider_out(s) for s in states])


async def list_providers(request: Request) -> Response:
    return json_response(await provider_report(request))


def provider_out(state: ProviderState) -> ProviderOut:
    return ProviderOut(
        name=state.name,
        configured=state.configured,
        degraded=state.degraded,
        reasons=list(state.reasons),
        in_flight=state.in_flight,
        window=state.window,
        cooldown_until=iso(state.cooldown_until),
        paused=state.paused,
        paused_at=iso(state.paused_at),
        last_probe_at=iso(state.last_probe_at),
        last_probe_result=state.last_probe_result,
        requests_last_hour=state.requests_last_hour,
        error_rate=state.error_rate,
        latency_p50_ms=state.latency_p50_ms,
        latency_p95_ms=state.latency_p95_ms,
        recent_errors=[_error_out(e) for e in state.recent_errors],
    )


def _error_out(error: RecentError) -> RecentErrorOut:
    return RecentErrorOut(
        at=iso(error.at) or "",
        operation=error.operation,
        outcome=error.outcome,
        message=error.message,
    )
