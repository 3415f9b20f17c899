"""The API's response shapes, and how domain values become them.

The render functions build the shapes with ``model_construct``: the values come from reelay's
own records, already valid, and validating them again cost about a tenth of a create's CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel
from starlette.responses import Response

from orchestrator.domain.artifacts import DownloadStatus, StepArtifact
from orchestrator.domain.ledger import LedgerEntry
from orchestrator.domain.media import planned_seconds
from orchestrator.domain.models import Event, PipelineView, Routing, Step, StepError
from orchestrator.domain.prices import usd
from orchestrator.spending import Cost, pipeline_costs

Usd = str


class ErrorOut(BaseModel):
    code: str
    message: str


class ProbeOut(BaseModel):
    """What the kept video is, measured with FFmpeg's libraries when it was kept."""

    duration_s: float
    fps: float | None
    frames: int
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    first_frame: str | None = None
    """A small fingerprint of the first picture, to tell whether two files start alike."""


class ArtifactOut(BaseModel):
    sha256: str
    size: int
    content_type: str
    url: str
    probe: ProbeOut | None = None


def usd_or_none(micros: int | None) -> Usd | None:
    return None if micros is None else usd(micros)


class CostOut(BaseModel):
    estimated_usd: Usd | None
    """One run of every step; null when a step is unpriced (never counted as 0)."""
    reserved_usd: Usd
    charged_usd: Usd
    refunded_usd: Usd
    net_usd: Usd
    billing_uncertain: bool
    """A submit's answer was lost: the provider may have charged it."""
    unpriced_steps: list[int]
    unpriced_submits: int = 0
    """Submits reserved or charged at no known price: their cost is not in the sums."""


def cost_out(cost: Cost) -> CostOut:
    return CostOut.model_construct(
        estimated_usd=usd_or_none(cost.estimated),
        reserved_usd=usd(cost.reserved),
        charged_usd=usd(cost.charged),
        refunded_usd=usd(cost.refunded),
        net_usd=usd(cost.net),
        billing_uncertain=cost.uncertain,
        unpriced_steps=list(cost.unpriced),
        unpriced_submits=cost.unpriced_submits,
    )


class DecisionOut(BaseModel):
    provider: str
    reason: str
    at: str


class RouteOut(BaseModel):
    provider: str
    estimated_usd: Usd | None


class RoutingOut(BaseModel):
    """How the base generation's provider was chosen, for a pipeline that named several."""

    routes: list[RouteOut]
    """Every provider that can serve the request, best first."""
    skipped: dict[str, str]
    """Providers that cannot serve it, and why."""
    decisions: list[DecisionOut]
    """Each choice, the first at creation; a later one moved the base after a refusal."""


def routing_out(routing: Routing | None) -> RoutingOut | None:
    if routing is None:
        return None
    return RoutingOut.model_construct(
        routes=[
            RouteOut(provider=r.provider, estimated_usd=usd_or_none(r.estimate_micros))
            for r in routing.routes
        ],
        skipped=routing.skipped,
        decisions=[
            DecisionOut(provider=d.provider, reason=d.reason, at=iso(d.at) or "")
            for d in routing.decisions
        ],
    )


class StepOut(BaseModel):
    index: int
    kind: Literal["generate", "extend"]
    """What is sent: a continuation is a new generation (from its parent's last frame)."""
    mode: Literal["extend", "continue"] | None = None
    """How the step follows its parent: an extend, or a continuation; null for the base."""
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
    artifact: ArtifactOut | None = None
    """The kept copy of the step's video, once downloaded."""
    provider: str = ""
    cost: CostOut | None = None


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
    budget_usd: Usd | None = None
    cost: CostOut | None = None
    routing: RoutingOut | None = None
    planned_seconds: float | None = None
    """How long the longest branch's whole video should be once every step succeeds."""


class SegmentOut(BaseModel):
    step: int
    drop_first_frame: bool


class BranchVideoOut(BaseModel):
    """A branch's whole video, from the base to ``leaf``."""

    leaf: int
    state: Literal["ready", "making", "failed", "not_yet", "none"]
    message: str
    planned_seconds: float
    url: str | None = None
    partial: bool | None = None
    """A later step of the branch failed: the video ends at ``upto``, the last good step."""
    upto: int | None = None
    method: Literal["whole", "copy", "reencode"] | None = None
    """``whole``: the leaf's own file already holds the whole video; ``copy``: segments
    joined without re-encoding; ``reencode``: their parameters differed (``reason``)."""
    reason: str | None = None
    segments: list[SegmentOut] | None = None
    dropped_frames: int | None = None
    sha256: str | None = None
    size: int | None = None
    probe: ProbeOut | None = None


class BranchVideoListOut(BaseModel):
    videos: list[BranchVideoOut]


class PipelineListOut(BaseModel):
    items: list[PipelineOut]
    next_cursor: str | None


class PipelineCountsOut(BaseModel):
    counts: dict[str, int]
    """Pipelines of each status (every status listed) under the filters."""
    total: int


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


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _err(error: StepError | None) -> ErrorOut | None:
    return (
        None if error is None else ErrorOut.model_construct(code=error.code, message=error.message)
    )


def step_out(step: Step, artifact: ArtifactOut | None = None, cost: Cost | None = None) -> StepOut:
    return StepOut.model_construct(
        artifact=artifact,
        provider=step.provider,
        cost=None if cost is None else cost_out(cost),
        index=step.index,
        kind=step.kind,
        mode=step.mode,
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


def pipeline_out(
    view: PipelineView,
    artifacts: Mapping[tuple[str, int], StepArtifact] | None = None,
    ledger: Sequence[LedgerEntry] = (),
) -> PipelineOut:
    """``artifacts``: the first kept video of each (pipeline, step), when known; ``ledger``:
    the pipeline's ledger rows (its money)."""
    p = view.pipeline
    kept = artifacts or {}
    total, costs = pipeline_costs(view, [e for e in ledger if e.pipeline_id == p.id])
    return PipelineOut.model_construct(
        budget_usd=usd_or_none(p.budget_micros),
        cost=cost_out(total),
        routing=routing_out(p.routing),
        planned_seconds=max(planned_seconds(view).values()),
        id=p.id,
        status=str(p.status),
        provider=p.provider,
        created_at=iso(p.created_at) or "",
        updated_at=iso(p.updated_at) or "",
        metadata=p.metadata,
        webhook_url=p.webhook_url,
        error=_err(p.error),
        steps=[
            step_out(s, _artifact_out(kept.get((p.id, s.index))), costs[s.index])
            for s in view.steps
        ],
    )


def _artifact_out(kept: StepArtifact | None) -> ArtifactOut | None:
    if kept is None or kept.artifact is None:
        return None
    a = kept.artifact
    return ArtifactOut.model_construct(
        sha256=a.sha256,
        size=a.size,
        content_type=a.content_type,
        probe=None if a.probe is None else ProbeOut.model_construct(**a.probe),
        url=f"/v1/pipelines/{kept.pipeline_id}/steps/{kept.step}/video",
    )


def kept_artifacts(found: list[StepArtifact]) -> dict[tuple[str, int], StepArtifact]:
    """The first stored video of each step."""
    kept: dict[tuple[str, int], StepArtifact] = {}
    for a in found:
        if a.status is DownloadStatus.STORED and (a.pipeline_id, a.step) not in kept:
            kept[(a.pipeline_id, a.step)] = a
    return kept


def event_out(event: Event) -> EventOut:
    return EventOut.model_construct(
        id=event.id,
        pipeline_id=event.pipeline_id,
        seq=event.seq,
        type=event.type,
        step=event.step,
        data=event.data,
        created_at=iso(event.created_at) or "",
    )
