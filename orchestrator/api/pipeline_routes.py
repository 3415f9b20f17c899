"""Handlers of the pipeline routes: create, read, list, cancel, retry, extend, events."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.params import Bounded, Choice, Param
from orchestrator.api.schemas import (
    EventListOut,
    PipelineListOut,
    PipelineOut,
    event_out,
    json_response,
    kept_artifacts,
    pipeline_out,
)
from orchestrator.api.services import services
from orchestrator.domain.models import PipelineStatus, PipelineView
from orchestrator.operations import Operations, is_pipeline_id
from orchestrator.plans import ExtendSpec, PipelineRequest

IDEMPOTENCY_KEY = Param("Idempotency-Key", where="header", min_length=1, max_length=255)
STATUS = Choice("status", PipelineStatus)
PROVIDER = Param("provider")
PAGE_SIZE = Bounded("limit", default=50, low=1, high=500)
CURSOR = Param("cursor", check=is_pipeline_id, hint="must be the next_cursor of a previous page")
AFTER = Bounded("after", default=0, low=0, high=2**62)
EVENT_LIMIT = Bounded("limit", default=1000, low=1, high=5000)


def ops(request: Request) -> Operations:
    return services(request).operations


async def render(request: Request, views: list[PipelineView]) -> list[PipelineOut]:
    """Pipelines as JSON, each step with its kept video when there is one."""
    found = await services(request).store.step_artifacts([v.pipeline.id for v in views])
    kept = kept_artifacts(found)
    return [pipeline_out(v, kept) for v in views]


async def one(request: Request, view: PipelineView, status: int = 200) -> Response:
    return json_response((await render(request, [view]))[0], status)


async def create_pipeline(request: Request, body: PipelineRequest) -> Response:
    key = IDEMPOTENCY_KEY.read(request)
    view, created = await ops(request).create(body, key)
    return await one(request, view, 201 if created else 200)


async def get_pipeline(request: Request) -> Response:
    return await one(request, await ops(request).get(request.path_params["pipeline_id"]))


async def list_pipelines(request: Request) -> Response:
    status = STATUS.read(request)
    limit = PAGE_SIZE.read(request)
    views = await ops(request).list_pipelines(
        status=status,
        provider=PROVIDER.read(request),
        limit=limit,
        cursor=CURSOR.read(request),
    )
    cursor = views[-1].pipeline.id if len(views) == limit else None
    return json_response(PipelineListOut(items=await render(request, views), next_cursor=cursor))


async def cancel_pipeline(request: Request) -> Response:
    return await one(request, await ops(request).cancel(request.path_params["pipeline_id"]))


async def retry_pipeline(request: Request) -> Response:
    return await one(request, await ops(request).retry(request.path_params["pipeline_id"]))


async def add_extend(request: Request, body: ExtendSpec) -> Response:
    view = await ops(request).add_extend(request.path_params["pipeline_id"], body)
    return await one(request, view, 201)


async def list_events(request: Request) -> Response:
    after = AFTER.read(request)
    limit = EVENT_LIMIT.read(request)
    events = await ops(request).events(request.path_params["pipeline_id"], after, limit)
    return json_response(EventListOut(items=[event_out(e) for e in events]))
