"""The internal trigger API's handlers."""

from __future__ import annotations

import hmac
import json
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.api.errors import BadRequest, PayloadTooLarge, Unauthorized
from orchestrator.api.outage import RETRY_AFTER_S
from orchestrator.api.readiness import WriteProbe
from orchestrator.api.schemas import (
    EventListOut,
    HealthOut,
    PipelineListOut,
    PipelineOut,
    event_out,
    kept_artifacts,
    pipeline_out,
)
from orchestrator.models import PipelineStatus, PipelineView
from orchestrator.operations import Operations, is_pipeline_id
from orchestrator.plans import ExtendSpec, PipelineRequest
from orchestrator.store import Store

MAX_BODY = 1 << 20


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def render(request: Request, views: list[PipelineView]) -> list[PipelineOut]:
    """Pipelines as JSON, each step with its kept video when there is one."""
    store: Store = request.app.state.store
    found = await store.step_artifacts([v.pipeline.id for v in views])
    kept = kept_artifacts(found)
    return [pipeline_out(v, kept) for v in views]


def ops(request: Request) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


def check_token(request: Request) -> None:
    token: str | None = request.app.state.api_token
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or invalid bearer token (REELAY_API_TOKEN)")


async def read_body(request: Request) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``MAX_BODY``: from its
    Content-Length, or while it streams in (never read whole first)."""
    too_large = f"body larger than {MAX_BODY} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    body = await read_body(request)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", field=name)
    return value


async def create_pipeline(request: Request) -> Response:
    check_token(request)
    data = await read_json(request)
    body = PipelineRequest.model_validate(data)
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise BadRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    view, created = await ops(request).create(body, key)
    return _json((await render(request, [view]))[0], 201 if created else 200)


async def get_pipeline(request: Request) -> Response:
    check_token(request)
    view = await ops(request).get(request.path_params["pipeline_id"])
    return _json((await render(request, [view]))[0])


async def list_pipelines(request: Request) -> Response:
    check_token(request)
    status = request.query_params.get("status")
    if status is not None and status not in set(PipelineStatus):
        allowed = ", ".join(PipelineStatus)
        raise BadRequest(f"status must be one of {allowed}", field="status")
    limit = _int_param(request, "limit", 50, 1, 500)
    given = request.query_params.get("cursor")
    if given is not None and not is_pipeline_id(given):
        raise BadRequest("cursor must be the next_cursor of a previous page", field="cursor")
    views = await ops(request).list_pipelines(
        status=status,
        provider=request.query_params.get("provider"),
        limit=limit,
        cursor=request.query_params.get("cursor"),
    )
    cursor = views[-1].pipeline.id if len(views) == limit else None
    return _json(PipelineListOut(items=await render(request, views), next_cursor=cursor))


async def cancel_pipeline(request: Request) -> Response:
    check_token(request)
    view = await ops(request).cancel(request.path_params["pipeline_id"])
    return _json((await render(request, [view]))[0])


async def retry_pipeline(request: Request) -> Response:
    check_token(request)
    view = await ops(request).retry(request.path_params["pipeline_id"])
    return _json((await render(request, [view]))[0])


async def add_extend(request: Request) -> Response:
    check_token(request)
    body = ExtendSpec.model_validate(await read_json(request))
    view = await ops(request).add_extend(request.path_params["pipeline_id"], body)
    return _json((await render(request, [view]))[0], 201)


async def list_events(request: Request) -> Response:
    check_token(request)
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 1000, 1, 5000)
    events = await ops(request).events(request.path_params["pipeline_id"], after, limit)
    return _json(EventListOut(items=[event_out(e) for e in events]))


async def healthz(request: Request) -> Response:
    return _json(HealthOut(status="ok"))


async def readyz(request: Request) -> Response:
    """503 when the database does not take a write (with why, in a few words). A degraded
    provider does not make reelay unready (its other providers work, and its steps wait):
    it is named in ``detail.degraded_providers``, with each provider's state."""
    probe: WriteProbe = request.app.state.write_probe
    problem = await probe.problem()
    detail: dict[str, Any] = {"database": problem or "ok"}
    health = request.app.state.provider_health
    if health is not None:
        providers: dict[str, dict[str, Any]] = health()
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
    return _json(HealthOut(status="ready", detail=detail))


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)
