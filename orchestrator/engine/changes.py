"""Changing pipelines inside one transaction: each pipeline as loaded and as changed so far,
committed settled through transitions.commit_transition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from orchestrator.domain import pipelines as pipeline_rules
from orchestrator.domain.models import EventDraft, PipelineView, Step
from orchestrator.store import Transaction
from orchestrator.transitions import commit_transition

Change = tuple[PipelineView, PipelineView]
"""A pipeline before and after a transaction's changes."""


class Changes:
    """The pipelines one transaction changes, step by step."""

    def __init__(self) -> None:
        self._changes: dict[str, Change] = {}

    def __len__(self) -> int:
        """How many pipelines were touched (a step put back unchanged counts)."""
        return len(self._changes)

    def current(self, view: PipelineView) -> PipelineView:
        """``view`` as changed so far in this transaction."""
        change = self._changes.get(view.pipeline.id)
        return view if change is None else change[1]

    def put(self, view: PipelineView, step: Step) -> PipelineView:
        """Replace a step of ``view`` (as changed so far); returns the pipeline now."""
        before, after = self._changes.get(view.pipeline.id, (view, view))
        after = with_step(after, step)
        self._changes[view.pipeline.id] = (before, after)
        return after

    def all(self) -> list[Change]:
        return list(self._changes.values())

    async def save(self, tx: Transaction, now: float, extra: Sequence[EventDraft] = ()) -> None:
        await save(tx, self.all(), now, extra)


async def save(
    tx: Transaction,
    changes: Sequence[Change],
    now: float,
    extra: Sequence[EventDraft] = (),
) -> None:
    """Settle each changed pipeline and commit it with the ``extra`` events about it."""
    saved: list[tuple[PipelineView | None, PipelineView]] = []
    events: list[EventDraft] = []
    for before, after in changes:
        if after is before:
            continue
        saved.append((before, pipeline_rules.settle(after, now)))
        events += [e for e in extra if e.pipeline_id == after.pipeline.id]
    if saved:
        await commit_transition(tx, saved, now, events)


def with_step(view: PipelineView, step: Step) -> PipelineView:
    if view.steps[step.index] is step:
        return view
    steps = list(view.steps)
    steps[step.index] = step
    return replace(view, steps=tuple(steps))
