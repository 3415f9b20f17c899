"""Pipelines and steps built directly as values, and short ways to write them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from orchestrator.domain.models import (
    EventDraft,
    Pipeline,
    PipelineStatus,
    PipelineView,
    Step,
    StepStatus,
)
from orchestrator.domain.values import VideoParams
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition

NOW = 1_700_000_000.0


def make_step(pipeline_id: str, index: int, **changes: Any) -> Step:
    step = Step(
        pipeline_id=pipeline_id,
        index=index,
        provider="fake",
        kind="generate" if index == 0 else "extend",
        parent=None if index == 0 else index - 1,
        prompt=f"prompt {index}",
        model="veo",
        params=VideoParams(),
        provider_options={},
        status=StepStatus.PENDING,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(step, **changes)


def make_view(
    pipeline_id: str, steps: int = 1, *, provider: str = "fake", **changes: Any
) -> PipelineView:
    pipeline = replace(
        Pipeline(
            id=pipeline_id,
            provider=provider,
            status=PipelineStatus.PENDING,
            created_at=NOW,
            updated_at=NOW,
        ),
        **changes,
    )
    return PipelineView(
        pipeline, tuple(make_step(pipeline_id, i, provider=provider) for i in range(steps))
    )


def with_step(view: PipelineView, index: int, **changes: Any) -> PipelineView:
    """``view`` with step ``index`` changed."""
    steps = list(view.steps)
    steps[index] = replace(steps[index], **changes)
    return PipelineView(view.pipeline, tuple(steps))


async def create(store: Store, *views: PipelineView, now: float = NOW) -> None:
    """Store new pipelines, each with one ``pipeline.created`` event."""

    async def job(tx: Transaction) -> None:
        await commit_transition(tx, [(None, v) for v in views], now)

    await store.run(job)


async def change(
    store: Store,
    pipeline_id: str,
    edit: Callable[[PipelineView], PipelineView],
    events: Sequence[EventDraft] = (),
    now: float = NOW,
) -> PipelineView:
    """Load a pipeline, commit ``edit`` of it with ``events`` besides those it implies; the
    stored result."""

    async def job(tx: Transaction) -> None:
        before = (await tx.pipelines.load([pipeline_id]))[pipeline_id]
        await commit_transition(tx, [(before, edit(before))], now, events)

    await store.run(job)
    view = await store.get(pipeline_id)
    assert view is not None
    return view
