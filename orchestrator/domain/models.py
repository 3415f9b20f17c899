"""Frozen domain values: pipelines, steps and events, as the store hands them out."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.domain.values import StepKind, TaskRef, VideoParams


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    AMBIGUOUS = "ambiguous"
    """The submit request may have reached the provider and its answer was lost."""

    @property
    def finished(self) -> bool:
        return self in _STEP_FINISHED

    @property
    def in_flight(self) -> bool:
        return self in (StepStatus.SUBMITTED, StepStatus.RUNNING)


_STEP_FINISHED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED})


class Billing(enum.StrEnum):
    """Where the money of a step's latest submit stands; the ledger row of that submit
    (``billing_seq``) moves through the same states, each move a compare-and-set."""

    RESERVED = "reserved"
    """Counted against the budgets while the submit's answer is awaited."""
    CHARGED = "charged"
    """The provider accepted the submit: a task exists, and costs money."""
    RELEASED = "released"
    """The submit provably created no task: the reservation no longer counts."""
    UNCERTAIN = "uncertain"
    """The submit's answer was lost: still reserved, until a callback or an operator says."""
    REFUNDED = "refunded"
    """The task failed and the provider's policy gives the money back."""


class PipelineStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED, PipelineStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class StepError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Step:
    pipeline_id: str
    index: int
    provider: str
    kind: StepKind
    parent: int | None
    prompt: str
    model: str
    params: VideoParams
    provider_options: dict[str, Any]
    status: StepStatus
    created_at: float
    updated_at: float
    provider_task_id: str | None = None
    callback_mode: bool = False
    progress: int | None = None
    video_urls: tuple[str, ...] = ()
    urls_expire_at: float | None = None
    error: StepError | None = None
    attempts: int = 0
    """Submit attempts made (each is one request that may have cost money)."""
    polls: int = 0
    poll_failures: int = 0
    """Consecutive status requests that failed; reset by any good answer (it paces polls)."""
    not_found_polls: int = 0
    """Consecutive status requests answered "no such task"; reset by any other answer."""
    next_at: float | None = None
    """pending: earliest submit (None while the parent is unfinished); in flight: next poll."""
    submitted_at: float | None = None
    completed_at: float | None = None
    claimed_by: str | None = None
    """The replica that last claimed this step's submit (whose request is in flight while
    the step is ``submitting``)."""
    estimate_micros: int | None = None
    """What one submit of this step is expected to cost (micro-USD); None: unpriced."""
    billing: Billing | None = None
    """The money of the latest submit (None before the first)."""
    billing_seq: int = 0
    """Submits ever reserved for this step: the latest one's ledger row. Never reset."""
    reported_micros: int | None = None
    """The cost the provider reported for the latest task, which wins over the estimate."""
    first_frame: str | None = None
    """A continuation's first frame: the storage key of its parent's last frame (PNG), set
    once that frame is extracted; the step is not submitted before."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.pipeline_id, self.index)

    @property
    def continues(self) -> bool:
        """A continuation: a new image-to-video generation whose first frame is its parent's
        last frame (an extend continues the parent's task instead)."""
        return self.kind == "generate" and self.parent is not None

    @property
    def mode(self) -> Literal["extend", "continue"] | None:
        """How the step follows its parent: ``extend``, ``continue``, or None for a base."""
        if self.parent is None:
            return None
        return "continue" if self.continues else "extend"

    def task_ref(self) -> TaskRef:
        if self.provider_task_id is None:
            raise ValueError(f"step {self.index} of {self.pipeline_id} has no provider task")
        return TaskRef(task_id=self.provider_task_id, kind=self.kind, model=self.model)


@dataclass(frozen=True, slots=True)
class Route:
    """One provider a routed pipeline may run on, and what it would cost there."""

    provider: str
    estimate_micros: int | None
    """The whole pipeline's estimate on this provider; None when a step is unpriced."""


@dataclass(frozen=True, slots=True)
class Decision:
    provider: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Routing:
    """The providers a pipeline's base generation may go to, best first, and the request
    they were planned from (a move re-plans the pipeline on the next one)."""

    routes: tuple[Route, ...]
    request: dict[str, Any]
    skipped: dict[str, str] = field(default_factory=dict)
    """Providers that cannot serve the request, and why."""
    decisions: tuple[Decision, ...] = ()
    """Each choice of the base's provider, the first at creation, in order."""

    @property
    def tried(self) -> frozenset[str]:
        return frozenset(d.provider for d in self.decisions)


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    provider: str
    status: PipelineStatus
    created_at: float
    updated_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    error: StepError | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    event_seq: int = 0
    budget_micros: int | None = None
    """The most this pipeline may spend (``budget_usd``); None: no cap of its own."""
    routing: Routing | None = None
    """How the base generation's provider was chosen, when the request named several."""


@dataclass(frozen=True, slots=True)
class PipelineView:
    """A pipeline together with its steps, ordered by index."""

    pipeline: Pipeline
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before it is numbered (``transitions.implied``)."""

    type: str
    pipeline_id: str
    step: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    """Global, increasing across all pipelines (the live stream's cursor)."""
    pipeline_id: str
    seq: int
    """Per pipeline, 1, 2, 3, ..."""
    type: str
    step: int | None
    data: dict[str, Any]
    created_at: float


def new_pipeline_id(now: float) -> str:
    """Time-ordered ids, so that listing by id is listing by creation time."""
    return f"pl_{int(now * 1000):012x}{secrets.token_hex(6)}"
