"""Step transitions: the allowed table, forward-only observations, and cancellation."""

from __future__ import annotations

import pytest

from orchestrator.domain import steps
from orchestrator.domain.models import StepError, StepStatus
from orchestrator.domain.values import TaskState, TaskStatus
from tests.orchestrator.helpers import make

NOW = 1000.0


def status(state: TaskState, **kw: object) -> TaskStatus:
    return TaskStatus("t1", state, str(state), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (StepStatus.PENDING, StepStatus.SUBMITTING, True),
        (StepStatus.PENDING, StepStatus.SUCCEEDED, False),
        (StepStatus.SUBMITTING, StepStatus.AMBIGUOUS, True),
        (StepStatus.SUBMITTED, StepStatus.PENDING, False),
        (StepStatus.RUNNING, StepStatus.SUBMITTED, False),
        (StepStatus.SUCCEEDED, StepStatus.RUNNING, False),
        (StepStatus.SUCCEEDED, StepStatus.FAILED, False),
        (StepStatus.FAILED, StepStatus.PENDING, True),
        (StepStatus.AMBIGUOUS, StepStatus.PENDING, True),
        (StepStatus.AMBIGUOUS, StepStatus.SUBMITTED, True),  # adopted via its callback
        (StepStatus.AMBIGUOUS, StepStatus.RUNNING, False),
    ],
)
def test_transition_table(start: StepStatus, target: StepStatus, allowed: bool) -> None:
    """Only transitions in the table are possible; the rest raise InvalidTransition."""
    if allowed:
        assert steps.move(make(start), target, NOW).status is target
    else:
        with pytest.raises(steps.InvalidTransition):
            steps.move(make(start), target, NOW)


def test_claim_records_intent_and_counts_attempts() -> None:
    """Claiming a submit marks the step submitting and counts the attempt before any request."""
    claimed = steps.claim_submit(make(next_at=5.0), NOW)
    assert claimed.status is StepStatus.SUBMITTING
    assert claimed.attempts == 1
    assert claimed.next_at is None


def test_success_keeps_urls_and_completes() -> None:
    """A succeeded observation records the video URLs and their expiry."""
    step = make(StepStatus.RUNNING, provider_task_id="t1")
    done = steps.observe(
        step,
        status(TaskState.SUCCEEDED, video_urls=("u",), urls_expire_at=9.0, completed_at=7.0),
        NOW,
        NOW + 10,
    )
    assert (done.status, done.video_urls, done.urls_expire_at, done.completed_at) == (
        StepStatus.SUCCEEDED,
        ("u",),
        9.0,
        7.0,
    )
    assert done.next_at is None


def test_late_running_after_success_is_ignored() -> None:
    """States only move forward: a running report after success changes nothing."""
    done = make(StepStatus.SUCCEEDED, provider_task_id="t1", progress=100)
    assert steps.observe(done, status(TaskState.RUNNING, progress=10), NOW, NOW) is done


def test_progress_never_goes_backwards() -> None:
    """A lower progress value than already seen is not shown."""
    step = make(StepStatus.RUNNING, provider_task_id="t1", progress=60)
    assert steps.observe(step, status(TaskState.RUNNING, progress=40), NOW, NOW).progress == 60


def test_unknown_status_is_not_a_failure() -> None:
    """An unknown provider status keeps the step in flight and schedules the next poll."""
    step = make(StepStatus.SUBMITTED, provider_task_id="t1")
    seen = steps.observe(step, status(TaskState.UNKNOWN), NOW, NOW + 30)
    assert seen.status is StepStatus.SUBMITTED
    assert seen.next_at == NOW + 30


@pytest.mark.parametrize("state", [TaskState.FAILED, TaskState.EXPIRED, TaskState.CANCELLED])
def test_terminal_failures_fail_with_a_code(state: TaskState) -> None:
    """A failed, expired or provider-cancelled task fails the step with a code."""
    failed = steps.observe(make(StepStatus.RUNNING, provider_task_id="t1"), status(state), NOW, NOW)
    assert failed.status is StepStatus.FAILED
    assert failed.error is not None
    assert failed.error.code == f"TASK_{state.upper()}"


def test_answer_after_cancel_keeps_task_id_only() -> None:
    """A submit answered after the user cancelled keeps the task id and stays cancelled."""
    cancelled = steps.cancel(make(StepStatus.SUBMITTING), NOW)
    answered = steps.submitted(cancelled, "t9", NOW, NOW + 1, callback_mode=False)
    assert answered.status is StepStatus.CANCELLED
    assert answered.provider_task_id == "t9"


def test_ambiguous_holds_without_next_time() -> None:
    """An ambiguous submit is held: no next attempt is scheduled."""
    held = steps.ambiguous(make(StepStatus.SUBMITTING), NOW, StepError("OUTCOME_UNKNOWN", "x"))
    assert held.status is StepStatus.AMBIGUOUS
    assert held.next_at is None


def test_held_step_says_what_to_do() -> None:
    """A held step's error keeps its cause and tells the operator to check with the provider,
    then retry or cancel, naming the pipeline."""
    held = steps.ambiguous(
        make(StepStatus.SUBMITTING), NOW, StepError("OUTCOME_UNKNOWN", "read timeout")
    )
    assert held.error is not None
    assert held.error.code == "OUTCOME_UNKNOWN"
    assert held.error.message.startswith("read timeout. ")
    assert "Check with the provider" in held.error.message
    assert f"reelay retry {held.pipeline_id}" in held.error.message
    assert f"reelay cancel {held.pipeline_id}" in held.error.message
