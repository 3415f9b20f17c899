"""The Providers page: what each provider is doing now, from the same report as
``GET /v1/providers``, and the budgets in force, as ``GET /v1/budgets`` gives them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.provider_routes import provider_report
from orchestrator.api.services import services
from orchestrator.ui.board import dashboard
from orchestrator.ui.money import BudgetBoard


async def providers_page(request: Request) -> Response:
    report = await provider_report(request)
    budgets = BudgetBoard.of(await services(request).spending.budgets())
    return dashboard(request).pages.render(
        request,
        "providers.html",
        {"providers": report.items, "budgets": budgets},
        nav="providers",
    )
