"""The API's response shapes, and how domain values become them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from orchestrator.models import Event, PipelineView, Step, StepError


class ErrorOut(BaseModel):
    code: str
    message: str


class StepOut(BaseModel):
    index: int
    kind: Literal["generate", "extend"]
    parent: int | None
    prompt: str
    model: str
    status: str
    provider_task_id: str | None
    progress: int | None
    video_url: str | None
    video_urls: list[str]
    video_urls_expire_at: str | None
    error: ErrorOut | None
    attempts: int
    submitted_at: str | None
    completed_at: str | None


class PipelineOut(BaseModel):
    id: str
    status: str
    provider: str
    created_at: str
    updated_at: str
    metadata: dict[str, Any]
    webhook_url: str | None
    error: ErrorOut | None
    steps: list[StepOut]


class PipelineListOut(BaseModel):
    items: list[PipelineOut]
    next_cursor: str | None


class EventOut(BaseModel):
    id: int
    pipeline_id: str
    seq: int
    type: str
    step: int | None
    data: dict[str, Any]
    created_at: str


class EventListOut(BaseModel):
    items: list[EventOut]


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut] = []


class ProblemEnvelope(BaseModel):
    error: ProblemOut


class HealthOut(BaseModel):
    status: str
    detail: dict[str, Any] = {}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _err(error: StepError | None) -> ErrorOut | None:
    return None if error is None else ErrorOut(code=error.code, message=error.message)


def step_out(step: Step) -> StepOut:
    return StepOut(
        index=step.index,
        kind=step.kind,
        parent=step.parent,
        prompt=step.prompt,
        model=step.model,
        status=str(step.status),
        provider_task_id=step.provider_task_id,
        progress=step.progress,
        video_url=step.video_urls[0] if step.video_urls else None,
        video_urls=list(step.video_urls),
        video_urls_expire_at=iso(step.urls_expire_at),
        error=_err(step.error),
        attempts=step.attempts,
        submitted_at=iso(step.submitted_at),
        completed_at=iso(step.completed_at),
    )


def pipeline_out(view: PipelineView) -> PipelineOut:
    p = view.pipeline
    return PipelineOut(
        id=p.id,
        status=str(p.status),
        provider=p.provider,
        created_at=iso(p.created_at) or "",
        updated_at=iso(p.updated_at) or "",
        metadata=p.metadata,
        webhook_url=p.webhook_url,
        error=_err(p.error),
        steps=[step_out(s) for s in view.steps],
    )


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        pipeline_id=event.pipeline_id,
        seq=event.seq,
        type=event.type,
        step=event.step,
        data=event.data,
        created_at=iso(event.created_at) or "",
    )
