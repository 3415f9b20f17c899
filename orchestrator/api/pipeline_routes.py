"""Handlers of the pipeline routes: create, read, list, cancel, retry, extend, events."""

from __future__ import annotations

from typing import TypedDict

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.action_schemas import ActionIn, ExtendIn
from orchestrator.api.auth import actor
from orchestrator.api.params import Bounded, Choice, Param
from orchestrator.api.schemas import (
    EventListOut,
    PipelineCountsOut,
    PipelineListOut,
    PipelineOut,
    event_out,
    json_response,
    kept_artifacts,
    pipeline_out,
)
from orchestrator.api.services import services
from orchestrator.common.times import is_time, parse_time
from orchestrator.domain.models import PipelineStatus, PipelineView
from orchestrator.operations import Operations, is_pipeline_id
from orchestrator.plans import PipelineRequest

IDEMPOTENCY_KEY = Param("Idempotency-Key", where="header", min_length=1, max_length=255)
STATUS = Choice("status", PipelineStatus)
PROVIDER = Param("provider")
PAGE_SIZE = Bounded("limit", default=50, low=1, high=500)
CURSOR = Param("cursor", check=is_pipeline_id, hint="must be the next_cursor of a previous page")
_TIME_HINT = "must be a date (2026-12-04) or an ISO 8601 time (2026-12-04T10:00:00Z)"
CREATED_FROM = Param("created_from", check=is_time, hint=_TIME_HINT)
CREATED_TO = Param("created_to", check=is_time, hint=_TIME_HINT)
TEXT = Param("q", min_length=1, max_length=200)
AFTER = Bounded("after", default=0, low=0, high=2**62)
EVENT_LIMIT = Bounded("limit", default=1000, low=1, high=5000)


def ops(request: Request) -> Operations:
    return services(request).operations


async def render(request: Request, views: list[PipelineView]) -> list[PipelineOut]:
    """Pipelines as JSON, each step with its kept video when there is one."""
    ids = [v.pipeline.id for v in views]
    store = services(request).store
    kept = kept_artifacts(await store.step_artifacts(ids))
    ledger = await store.ledger(ids)
    return [pipeline_out(v, kept, ledger) for v in views]


async def one(request: Request, view: PipelineView, status: int = 200) -> Response:
    return json_response((await render(request, [view]))[0], status)


async def create_pipeline(request: Request, body: PipelineRequest) -> Response:
    key = IDEMPOTENCY_KEY.read(request)
    view, created = await ops(request).create(body, key, actor=actor(request))
    return await one(request, view, 201 if created else 200)


async def get_pipeline(request: Request) -> Response:
    return await one(request, await ops(request).get(request.path_params["pipeline_id"]))


class Filters(TypedDict):
    provider: str | None
    created_from: float | None
    created_to: float | None
    text: str | None


def _filters(request: Request) -> Filters:
    """Provider, creation range and text: what the list and the counts share."""
    start, end = CREATED_FROM.read(request), CREATED_TO.read(request)
    return Filters(
        provider=PROVIDER.read(request),
        created_from=None if start is None else parse_time(start),
        created_to=None if end is None else parse_time(end, end_of_day=True),
        text=TEXT.read(request),
    )


async def list_pipelines(request: Request) -> Response:
    status = STATUS.read(request)
    limit = PAGE_SIZE.read(request)
    views = await ops(request).list_pipelines(
        status=status, limit=limit, cursor=CURSOR.read(request), **_filters(request)
    )
    cursor = views[-1].pipeline.id if len(views) == limit else None
    return json_response(PipelineListOut(items=await render(request, views), next_cursor=cursor))


async def count_pipelines(request: Request) -> Response:
    counts = await ops(request).count_pipelines(**_filters(request))
    return json_response(PipelineCountsOut(counts=counts, total=sum(counts.values())))


async def cancel_pipeline(request: Request, body: ActionIn) -> Response:
    pipeline_id = request.path_params["pipeline_id"]
    view = await ops(request).cancel(pipeline_id, actor=actor(request), reason=body.reason)
    return await one(request, view)


async def retry_pipeline(request: Request, body: ActionIn) -> Response:
    pipeline_id = request.path_params["pipeline_id"]
    view = await ops(request).retry(pipeline_id, actor=actor(request), reason=body.reason)
    return await one(request, view)


async def add_extend(request: Request, body: ExtendIn) -> Response:
    view = await ops(request).add_extend(
        request.path_params["pipeline_id"], body.spec(), actor=actor(request), reason=body.reason
    )
    return await one(request, view, 201)


async def list_events(request: Request) -> Response:
    after = AFTER.read(request)
    limit = EVENT_LIMIT.read(request)
    events = await ops(request).events(request.path_params["pipeline_id"], after, limit)
    return json_response(EventListOut(items=[event_out(e) for e in events]))
