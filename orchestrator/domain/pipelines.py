"""Pipeline rules, pure: what follows from the state of its steps, and which events say so.

``settle`` is applied after any step changes: it cancels the steps below a failed one, makes
children ready once their parent succeeded (a continuation once its parent's last frame is
extracted too), and derives the pipeline's status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import (
    EventDraft,
    Pipeline,
    PipelineStatus,
    PipelineView,
    Step,
    StepError,
    StepStatus,
)


def settle(view: PipelineView, now: float) -> PipelineView:
    by_index = {s.index: s for s in view.steps}
    for step in view.steps:  # ordered by index: parents come before their children
        current = by_index[step.index]
        parent = by_index.get(current.parent) if current.parent is not None else None
        if current.status is StepStatus.PENDING:
            if parent is not None and parent.status in (StepStatus.FAILED, StepStatus.CANCELLED):
                by_index[step.index] = step_rules.cancel(current, now)
            elif parent is None or (
                parent.status is StepStatus.SUCCEEDED
                and (not current.continues or current.first_frame is not None)
            ):
                by_index[step.index] = step_rules.make_ready(current, now)
    settled = tuple(by_index[s.index] for s in view.steps)
    return PipelineView(pipeline=_rollup(view.pipeline, settled, now), steps=settled)


def _rollup(pipeline: Pipeline, steps: tuple[Step, ...], now: float) -> Pipeline:
    if pipeline.status is PipelineStatus.CANCELLED:
        return pipeline
    failed = next((s for s in steps if s.status is StepStatus.FAILED), None)
    error: StepError | None = None
    if failed is not None:
        status = PipelineStatus.FAILED
        error = failed.error
    elif all(s.status is StepStatus.SUCCEEDED for s in steps):
        status = PipelineStatus.SUCCEEDED
    elif any(s.status is not StepStatus.PENDING for s in steps):
        status = PipelineStatus.RUNNING
    else:
        status = PipelineStatus.PENDING
    if status is pipeline.status and error == pipeline.error:
        return pipeline
    return replace(pipeline, status=status, error=error, updated_at=now)


def cancel(view: PipelineView, now: float) -> PipelineView:
    """The user's cancel: every unfinished step is cancelled, and so is the pipeline."""
    cancelled = tuple(step_rules.cancel(s, now) for s in view.steps)
    pipeline = replace(view.pipeline, status=PipelineStatus.CANCELLED, updated_at=now)
    return PipelineView(pipeline=pipeline, steps=cancelled)


def retry(view: PipelineView, now: float) -> PipelineView:
    """The operator's retry: failed and ambiguous steps, and the steps cancelled below them,
    are submitted again. Returns ``view`` itself when there is nothing to retry."""
    if view.pipeline.status is PipelineStatus.CANCELLED:
        return view
    resumable = (StepStatus.FAILED, StepStatus.AMBIGUOUS, StepStatus.CANCELLED)
    steps = tuple(step_rules.retry(s, now) if s.status in resumable else s for s in view.steps)
    if steps == view.steps:
        return view
    return settle(PipelineView(view.pipeline, steps), now)


def events_between(before: PipelineView | None, after: PipelineView) -> list[EventDraft]:
    """The events that tell how ``before`` became ``after``, in a stable order."""
    pid = after.pipeline.id
    drafts: list[EventDraft] = []
    if before is None:
        drafts.append(EventDraft("pipeline.created", pid, data=_pipeline_data(after.pipeline)))
    old_steps = {s.index: s for s in before.steps} if before else {}
    for step in after.steps:
        old = old_steps.get(step.index)
        if old is None and before is None:
            continue
        if old is None:
            drafts.append(EventDraft("step.added", pid, step.index, step_data(step)))
        elif old.status is not step.status:
            drafts.append(EventDraft(f"step.{step.status}", pid, step.index, step_data(step)))
        elif step.status is StepStatus.RUNNING and step.progress != old.progress:
            drafts.append(EventDraft("step.running", pid, step.index, step_data(step)))
    if before is not None and before.pipeline.status is not after.pipeline.status:
        drafts.append(
            EventDraft(
                f"pipeline.{after.pipeline.status}", pid, data=_pipeline_data(after.pipeline)
            )
        )
    return drafts


def step_data(step: Step) -> dict[str, Any]:
    return {
        "index": step.index,
        "kind": step.kind,
        "mode": step.mode,
        "status": str(step.status),
        "provider_task_id": step.provider_task_id,
        "progress": step.progress,
        "video_urls": list(step.video_urls),
        "error": _error(step.error),
    }


def _pipeline_data(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "status": str(pipeline.status),
        "provider": pipeline.provider,
        "error": _error(pipeline.error),
        "metadata": pipeline.metadata,
    }


def _error(error: StepError | None) -> dict[str, str] | None:
    return None if error is None else {"code": error.code, "message": error.message}


def depth(steps: Iterable[tuple[int, int | None]]) -> dict[int, int]:
    """Extend depth of each step given (index, parent) pairs in index order: a base is 0, and
    so is a continuation (pass its parent as None): it is a new generation."""
    depths: dict[int, int] = {}
    for index, parent in steps:
        depths[index] = 0 if parent is None else depths[parent] + 1
    return depths
