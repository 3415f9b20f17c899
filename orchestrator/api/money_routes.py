"""Handlers of the money routes: quotes, budgets and spend."""

from __future__ import annotations

import enum
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.money_schemas import (
    BudgetPatch,
    QuoteOut,
    QuoteRouteOut,
    QuoteStepOut,
    budgets_out,
    spend_out,
)
from orchestrator.api.params import Choice, Param
from orchestrator.api.schemas import json_response, usd_or_none
from orchestrator.api.services import services
from orchestrator.common.times import is_time, parse_time
from orchestrator.domain.ledger import day_of
from orchestrator.domain.media import planned_seconds
from orchestrator.domain.prices import to_micros, usd
from orchestrator.engine.budget import Period
from orchestrator.plans import PipelineRequest, total_estimate, unpriced_steps
from orchestrator.spending import GroupBy as SpendGroupBy

_GROUPS: dict[str, SpendGroupBy] = {
    "provider": "provider",
    "model": "model",
    "day": "day",
    "pipeline": "pipeline",
}


class GroupBy(enum.StrEnum):
    PROVIDER = "provider"
    MODEL = "model"
    DAY = "day"
    PIPELINE = "pipeline"


_DAY_HINT = "must be a UTC day (2026-12-04) or an ISO 8601 time"
FROM = Param("from", check=is_time, hint=_DAY_HINT)
TO = Param("to", check=is_time, hint=_DAY_HINT)
GROUP_BY = Choice("group_by", GroupBy)
PROVIDER = Param("provider", max_length=40)


async def quote(request: Request, body: PipelineRequest) -> Response:
    view = services(request).operations.plan(body, "pl_quote")
    priced = [s.estimate_micros or 0 for s in view.steps]
    routing = view.pipeline.routing
    out = QuoteOut(
        provider=view.pipeline.provider,
        steps=[
            QuoteStepOut(
                index=s.index,
                kind=s.kind,
                mode=s.mode,
                parent=s.parent,
                provider=s.provider,
                model=s.model,
                estimated_usd=usd_or_none(s.estimate_micros),
            )
            for s in view.steps
        ],
        total_usd=usd(sum(priced)),
        complete=total_estimate(view) is not None,
        unpriced_steps=unpriced_steps(view),
        budget_usd=usd_or_none(view.pipeline.budget_micros),
        routes=[
            QuoteRouteOut(provider=r.provider, estimated_usd=usd_or_none(r.estimate_micros))
            for r in (routing.routes if routing else ())
        ],
        skipped=routing.skipped if routing else {},
        planned_seconds=max(planned_seconds(view).values()),
    )
    return json_response(out)


async def get_budgets(request: Request) -> Response:
    return json_response(budgets_out(await services(request).spending.budgets()))


async def patch_budgets(request: Request, body: BudgetPatch) -> Response:
    changes: dict[Period, int | None] = {}
    if "per_day_usd" in body.model_fields_set:
        changes["day"] = _micros(body.per_day_usd)
    if "per_month_usd" in body.model_fields_set:
        changes["month"] = _micros(body.per_month_usd)
    spending = services(request).spending
    found = await spending.set_caps(body.scope, changes, reset=body.reset)
    return json_response(budgets_out(found))


def _micros(value: str | None) -> int | None:
    return None if value is None else to_micros(Decimal(value))


async def get_spend(request: Request) -> Response:
    first, last = FROM.read(request), TO.read(request)
    report = await services(request).spending.spend(
        None if first is None else day_of(parse_time(first)),
        None if last is None else day_of(parse_time(last)),
        _GROUPS[GROUP_BY.read(request) or "provider"],
        PROVIDER.read(request),
    )
    return json_response(spend_out(report))
