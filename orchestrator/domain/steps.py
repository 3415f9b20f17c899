"""Step transitions: pure functions from a frozen step (and what happened) to the next step.

Every change of a step's status goes through ``move``, which refuses a transition the table
below does not allow. States only move forward, except the operator's retry of a failed or
ambiguous step.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.domain.models import Billing, Step, StepError, StepStatus
from orchestrator.domain.values import TaskState, TaskStatus
from orchestrator.errors import Conflict

S = StepStatus

ALLOWED: dict[StepStatus, frozenset[StepStatus]] = {
    S.PENDING: frozenset({S.SUBMITTING, S.CANCELLED, S.FAILED}),
    S.SUBMITTING: frozenset({S.SUBMITTED, S.PENDING, S.FAILED, S.AMBIGUOUS, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.AMBIGUOUS: frozenset({S.PENDING, S.CANCELLED, S.SUBMITTED}),
    S.FAILED: frozenset({S.PENDING}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.SUCCEEDED: frozenset(),
}


class InvalidTransition(Conflict):
    """The step is no longer in a state that allows this move (it moved on meanwhile)."""

    def __init__(self, step: Step, target: StepStatus) -> None:
        super().__init__(
            f"step {step.index} of {step.pipeline_id}: {step.status} -> {target} is not allowed"
        )


def move(step: Step, target: StepStatus, now: float, **changes: object) -> Step:
    if target != step.status and target not in ALLOWED[step.status]:
        raise InvalidTransition(step, target)
    return replace(step, status=target, updated_at=now, **changes)  # type: ignore[arg-type]


def claim_submit(step: Step, now: float, replica: str | None = None) -> Step:
    """Record the intent to submit, and which replica sends it, before the request is sent;
    its estimated cost is reserved in the same write."""
    return move(
        step,
        S.SUBMITTING,
        now,
        attempts=step.attempts + 1,
        next_at=None,
        error=None,
        claimed_by=replica,
        billing=Billing.RESERVED,
        billing_seq=step.billing_seq + 1,
        reported_micros=None,
    )


def _settled(step: Step, outcome: Billing) -> Billing | None:
    """A reservation's fate once its submit is answered (other states stay as they are)."""
    if step.billing is Billing.RESERVED:
        return outcome
    return step.billing


def submitted(
    step: Step, task_id: str, now: float, first_poll_at: float, callback_mode: bool
) -> Step:
    """The provider accepted the submit. A step cancelled meanwhile keeps its task id only."""
    billing = _settled(step, Billing.CHARGED)
    if step.status is S.CANCELLED:
        return replace(step, provider_task_id=task_id, updated_at=now, billing=billing)
    return move(
        step,
        S.SUBMITTED,
        now,
        provider_task_id=task_id,
        callback_mode=callback_mode,
        submitted_at=now,
        next_at=first_poll_at,
        progress=0,
        billing=billing,
    )


def submit_later(
    step: Step, now: float, retry_at: float, error: StepError, *, uncertain: bool = False
) -> Step:
    """The submit is to be sent again later. It was refused in a way that proves no task
    exists, so its reservation is released; or (``uncertain``) its outcome is unknown and it
    is resent by policy, so its reservation stays, uncertain."""
    billing = _settled(step, Billing.UNCERTAIN if uncertain else Billing.RELEASED)
    if step.status is S.CANCELLED:
        return replace(step, billing=billing) if billing is not step.billing else step
    return move(step, S.PENDING, now, next_at=retry_at, error=error, billing=billing)


def fail(step: Step, now: float, error: StepError, *, refund: bool = False) -> Step:
    """A refused submit (its reservation released) or a failed task (charged, or refunded
    when ``refund``: the provider's policy)."""
    billing = _settled(step, Billing.RELEASED)
    if refund and billing is Billing.CHARGED:
        billing = Billing.REFUNDED
    if step.status.finished:
        return replace(step, billing=billing) if billing is not step.billing else step
    return move(step, S.FAILED, now, error=error, next_at=None, completed_at=now, billing=billing)


def unable(step: Step, now: float, error: StepError) -> Step:
    """A pending step that can never be sent as planned (a continuation whose parent's video
    was not kept, so it has no first frame); nothing was reserved for it."""
    if step.status is not S.PENDING:
        return step
    return move(step, S.FAILED, now, error=error, next_at=None, completed_at=now)


def ambiguous(step: Step, now: float, error: StepError) -> Step:
    """The submit may have created a task we know nothing of: hold it for a decision. Its
    reservation stays, marked uncertain."""
    billing = _settled(step, Billing.UNCERTAIN)
    if step.status is S.CANCELLED:
        return replace(step, billing=billing) if billing is not step.billing else step
    held = StepError(error.code, f"{error.message}. {held_advice(step.pipeline_id)}")
    return move(step, S.AMBIGUOUS, now, error=held, next_at=None, billing=billing)


def held_advice(pipeline_id: str) -> str:
    """What an operator does about a held step; it ends every held step's error message."""
    return (
        "Submit outcome unknown: the provider may have created (and charge for) a task. Check "
        f"with the provider, then `reelay retry {pipeline_id}` to submit it again or "
        f"`reelay cancel {pipeline_id}`"
    )


def cancel(step: Step, now: float) -> Step:
    if step.status.finished:
        return step
    return move(step, S.CANCELLED, now, next_at=None, completed_at=now)


def make_ready(step: Step, now: float) -> Step:
    """A pending step whose parent succeeded may be submitted from now on."""
    if step.status is not S.PENDING or step.next_at is not None:
        return step
    return replace(step, next_at=now, updated_at=now)


def retry(step: Step, now: float) -> Step:
    """An operator's decision to submit a failed, cancelled or ambiguous step again: a fresh
    start, so its retry budget starts over and the old task is forgotten. Retrying a held
    submit is the operator's word that it created no task: its reservation is released."""
    billing = Billing.RELEASED if step.billing is Billing.UNCERTAIN else step.billing
    return move(
        step,
        S.PENDING,
        now,
        next_at=None,
        error=None,
        completed_at=None,
        progress=None,
        attempts=0,
        provider_task_id=None,
        polls=0,
        poll_failures=0,
        not_found_polls=0,
        video_urls=(),
        urls_expire_at=None,
        submitted_at=None,
        billing=billing,
    )


def adopt(step: Step, task_id: str, now: float) -> Step:
    """An ambiguous submit did create a task: its callback told us which. Confirm it by
    polling now."""
    if step.status is not S.AMBIGUOUS:
        return step
    return move(
        step,
        S.SUBMITTED,
        now,
        provider_task_id=task_id,
        callback_mode=True,
        submitted_at=now,
        next_at=now,
        error=None,
        billing=Billing.CHARGED if step.billing is Billing.UNCERTAIN else step.billing,
    )


def observe(
    step: Step, status: TaskStatus, now: float, next_poll_at: float, *, refund: bool = False
) -> Step:
    """Apply one observation of the provider task. Late or backward news changes nothing.
    A failed task is refunded when ``refund`` (the provider's policy); a cost the provider
    reports is kept, and wins over the estimate."""
    if not step.status.in_flight:
        return step
    seen = replace(step, polls=step.polls + 1, poll_failures=0, not_found_polls=0)
    if status.cost_micros is not None:
        seen = replace(seen, reported_micros=status.cost_micros)
    match status.state:
        case TaskState.SUCCEEDED:
            return move(
                seen,
                S.SUCCEEDED,
                now,
                progress=100,
                video_urls=status.video_urls,
                urls_expire_at=status.urls_expire_at,
                completed_at=status.completed_at or now,
                next_at=None,
            )
        case TaskState.FAILED | TaskState.CANCELLED | TaskState.EXPIRED:
            code = status.error_code or f"TASK_{status.state.upper()}"
            message = status.error_message or f"the provider reported the task {status.raw_status}"
            return fail(seen, now, StepError(code, message), refund=refund)
        case TaskState.RUNNING:
            progress = status.progress if status.progress is not None else seen.progress
            if seen.progress is not None and progress is not None:
                progress = max(progress, seen.progress)
            return move(seen, S.RUNNING, now, progress=progress, next_at=next_poll_at)
        case TaskState.QUEUED | TaskState.UNKNOWN:
            return replace(seen, updated_at=now, next_at=next_poll_at)


def poll_failed(step: Step, now: float, next_poll_at: float, *, not_found: bool = False) -> Step:
    """A status request failed. Every failure slows the polls down; only an unbroken run of
    "no such task" answers (``not_found``) counts towards believing the task is gone, so an
    outage (5xx, refused connections) never turns the next 404 into a verdict."""
    if not step.status.in_flight:
        return step
    return replace(
        step,
        poll_failures=step.poll_failures + 1,
        not_found_polls=step.not_found_polls + 1 if not_found else 0,
        next_at=next_poll_at,
        updated_at=now,
    )
