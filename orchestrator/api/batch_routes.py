"""The handler of ``POST /v1/pipelines/batch``: each item as ``POST /v1/pipelines`` would
take it, all created in one transaction, answered together (200) once committed."""

from __future__ import annotations

from typing import Literal, cast

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.auth import actor
from orchestrator.api.batch_schemas import BatchIn, BatchOut, BatchPipelineOut, BatchProblemOut
from orchestrator.api.bodies import validated
from orchestrator.api.errors import problem_out
from orchestrator.api.pipeline_routes import ops, render
from orchestrator.api.schemas import json_response, pipeline_out
from orchestrator.errors import Rejected
from orchestrator.operations import Created, Outcome
from orchestrator.plans import PipelineRequest


async def create_batch(request: Request, body: BatchIn) -> Response:
    requests: list[tuple[PipelineRequest, str | None]] = []
    refused: dict[int, Rejected] = {}
    for i, item in enumerate(body.items):
        try:
            requests.append((validated(PipelineRequest, item.pipeline), item.idempotency_key))
        except Rejected as exc:
            refused[i] = exc
    outcomes = iter(await ops(request).create_many(requests, actor=actor(request)))
    merged = [refused[i] if i in refused else next(outcomes) for i in range(len(body.items))]
    return json_response(BatchOut(items=await _results(request, merged)))


async def _results(
    request: Request, outcomes: list[Outcome]
) -> list[BatchPipelineOut | BatchProblemOut]:
    """New pipelines have no money moved nor videos kept yet: only those found under their
    key are read again (all at once)."""
    found = [o.view for o in outcomes if isinstance(o, Created) and not o.created]
    rendered = {out.id: out for out in await render(request, found)} if found else {}
    results: list[BatchPipelineOut | BatchProblemOut] = []
    for o in outcomes:
        if isinstance(o, Created):
            out = pipeline_out(o.view) if o.created else rendered[o.view.pipeline.id]
            results.append(BatchPipelineOut(status=201 if o.created else 200, pipeline=out))
        else:
            status, error = problem_out(o)
            results.append(BatchProblemOut(status=cast(Literal[409, 422], status), error=error))
    return results
