"""Pipeline rules: readiness, cascade cancel below a failure, status rollup, events."""

from __future__ import annotations

from orchestrator.domain import pipelines
from orchestrator.domain.models import Pipeline, PipelineStatus, PipelineView, StepError, StepStatus
from tests.orchestrator.helpers import make

NOW = 2000.0


def view(*statuses: tuple[StepStatus, int | None]) -> PipelineView:
    pipeline = Pipeline("pl_1", "fake", PipelineStatus.RUNNING, 0.0, 0.0)
    steps = tuple(
        make(st, index=i, parent=parent, kind="generate" if i == 0 else "extend")
        for i, (st, parent) in enumerate(statuses)
    )
    return PipelineView(pipeline, steps)


def test_children_become_ready_when_parent_succeeds() -> None:
    """A pending child gets a submit time once its parent succeeded, not before."""
    v = view((StepStatus.SUCCEEDED, None), (StepStatus.PENDING, 0), (StepStatus.PENDING, 1))
    settled = pipelines.settle(v, NOW)
    assert settled.steps[1].next_at == NOW
    assert settled.steps[2].next_at is None


def test_failure_cancels_only_steps_below() -> None:
    """Steps below a failed step are cancelled; a sibling branch is left alone."""
    failed = make(StepStatus.FAILED, index=1, parent=0, kind="extend", error=StepError("X", "y"))
    v = view(
        (StepStatus.SUCCEEDED, None),
        (StepStatus.FAILED, 0),
        (StepStatus.PENDING, 1),
        (StepStatus.RUNNING, 0),
    )
    v = PipelineView(v.pipeline, (v.steps[0], failed, v.steps[2], v.steps[3]))
    settled = pipelines.settle(v, NOW)
    assert [s.status for s in settled.steps] == [
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.CANCELLED,
        StepStatus.RUNNING,
    ]
    assert settled.pipeline.status is PipelineStatus.FAILED
    assert settled.pipeline.error == StepError("X", "y")


def test_all_succeeded_means_pipeline_succeeded() -> None:
    """The pipeline succeeds when every step has."""
    v = view((StepStatus.SUCCEEDED, None), (StepStatus.SUCCEEDED, 0))
    assert pipelines.settle(v, NOW).pipeline.status is PipelineStatus.SUCCEEDED


def test_events_describe_each_change() -> None:
    """Each status change yields one step event; a pipeline change yields a pipeline event."""
    before = view((StepStatus.RUNNING, None), (StepStatus.PENDING, 0))
    after = pipelines.settle(view((StepStatus.SUCCEEDED, None), (StepStatus.PENDING, 0)), NOW)
    types = [e.type for e in pipelines.events_between(before, after)]
    assert types == ["step.succeeded"]
    done = pipelines.settle(view((StepStatus.SUCCEEDED, None), (StepStatus.SUCCEEDED, 0)), NOW)
    assert [e.type for e in pipelines.events_between(after, done)] == [
        "step.succeeded",
        "pipeline.succeeded",
    ]


def test_cancel_cancels_unfinished_steps() -> None:
    """A user's cancel leaves finished steps alone and cancels the rest."""
    v = view((StepStatus.SUCCEEDED, None), (StepStatus.RUNNING, 0), (StepStatus.PENDING, 1))
    cancelled = pipelines.cancel(v, NOW)
    assert cancelled.pipeline.status is PipelineStatus.CANCELLED
    assert [s.status for s in cancelled.steps] == [
        StepStatus.SUCCEEDED,
        StepStatus.CANCELLED,
        StepStatus.CANCELLED,
    ]
