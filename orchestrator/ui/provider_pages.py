"""The Providers page: what each provider is doing now, from the same report as
``GET /v1/providers``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.provider_routes import provider_report
from orchestrator.ui.board import dashboard


async def providers_page(request: Request) -> Response:
    report = await provider_report(request)
    return dashboard(request).pages.render(
        request, "providers.html", {"providers": report.items}, nav="providers"
    )
