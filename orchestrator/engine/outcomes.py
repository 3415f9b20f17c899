"""What an outcome of provider work means for its step: which transition, which error code."""

from __future__ import annotations

import random
from dataclasses import dataclass

from orchestrator import schedule
from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import EventDraft, Step, StepError
from orchestrator.domain.values import Capabilities
from orchestrator.engine.perform import Outcome, Polled, PollFailed, SubmitFailed, Submitted
from orchestrator.engine.pressure import BALANCE_PROBE_S
from orchestrator.providers import errors as pe
from orchestrator.providers.config import ProviderSettings

TASK_NOT_FOUND_LIMIT = 5
"""Consecutive 404s on a task we created before we believe it is gone (providers can lag).
Only "no such task" answers count: a 5xx or a refused connection in between starts over."""

_CODES: list[tuple[type[pe.ProviderError], str]] = [
    (pe.RateLimited, "RATE_LIMITED"),
    (pe.ProviderUnavailable, "PROVIDER_UNAVAILABLE"),
    (pe.RequestNotSent, "REQUEST_NOT_SENT"),
    (pe.OutcomeUnknown, "OUTCOME_UNKNOWN"),
    (pe.SourceNotReady, "SOURCE_NOT_READY"),
    (pe.InvalidRequest, "INVALID_REQUEST"),
    (pe.AuthError, "AUTH"),
    (pe.InsufficientBalance, "INSUFFICIENT_BALANCE"),
    (pe.SourceInvalid, "SOURCE_INVALID"),
    (pe.TaskNotFound, "TASK_NOT_FOUND"),
    (pe.ContentPolicy, "CONTENT_POLICY"),
    (pe.ProviderResponseError, "BAD_PROVIDER_RESPONSE"),
]


def step_error(exc: pe.ProviderError) -> StepError:
    """Our category as the code (the provider's own code stays in the message)."""
    code = next((c for cls, c in _CODES if isinstance(exc, cls)), "PROVIDER_ERROR")
    message = str(exc)
    if isinstance(exc, pe.AuthError):
        setting = f"REELAY_{exc.provider.upper()}_API_KEY"
        message = f"{message} (check {setting})"
    return StepError(code, message)


@dataclass(frozen=True, slots=True)
class Context:
    settings: ProviderSettings
    capabilities: Capabilities
    max_submit_attempts: int
    rng: random.Random
    resubmit_ambiguous: bool = False


def apply(step: Step, outcome: Outcome, now: float, ctx: Context) -> Step:
    match outcome:
        case Submitted(task_id=task_id, callback_mode=callback_mode):
            first = schedule.first_poll_at(
                now, ctx.settings, ctx.capabilities, ctx.rng, callback_mode=callback_mode
            )
            return step_rules.submitted(step, task_id, now, first, callback_mode)
        case SubmitFailed(error=error):
            return _submit_failed(step, error, now, ctx)
        case Polled(status=status):
            later = schedule.next_poll_at(now, step.polls + 1, ctx.settings, ctx.rng)
            refund = ctx.settings.refund_on_failure
            return step_rules.observe(step, status, now, later, refund=refund)
        case PollFailed(error=error):
            return _poll_failed(step, error, now, ctx)


def _submit_failed(step: Step, error: pe.ProviderError, now: float, ctx: Context) -> Step:
    if isinstance(error, pe.InsufficientBalance):
        # Not the step's fault: it waits (visibly) until the account is topped up.
        return step_rules.submit_later(step, now, now + BALANCE_PROBE_S, step_error(error))
    if isinstance(error, pe.OutcomeUnknown | pe.ProviderResponseError):
        # The provider may have created (and will charge for) a task we have no id for.
        if ctx.resubmit_ambiguous and step.attempts < ctx.max_submit_attempts:
            at = schedule.submit_retry_at(now, step.attempts, ctx.rng)
            note = StepError(
                "RESUBMITTED_AFTER_UNKNOWN_OUTCOME",
                f"{error}; resubmitting (REELAY_AMBIGUOUS_POLICY=resubmit) may create a "
                "second task",
            )
            return step_rules.submit_later(step, now, at, note, uncertain=True)
        return step_rules.ambiguous(step, now, step_error(error))
    if isinstance(error, pe.RetryableError) and step.attempts < ctx.max_submit_attempts:
        retry_after = error.retry_after if isinstance(error, pe.RateLimited) else None
        at = schedule.submit_retry_at(now, step.attempts, ctx.rng, retry_after)
        return step_rules.submit_later(step, now, at, step_error(error))
    return step_rules.fail(step, now, step_error(error))


def _poll_failed(step: Step, error: pe.ProviderError, now: float, ctx: Context) -> Step:
    if isinstance(error, pe.AuthError):
        return step_rules.fail(step, now, step_error(error))
    not_found = isinstance(error, pe.TaskNotFound)
    if not_found and step.not_found_polls + 1 >= TASK_NOT_FOUND_LIMIT:
        refund = ctx.settings.refund_on_failure
        return step_rules.fail(step, now, step_error(error), refund=refund)
    later = schedule.next_poll_at(now, step.polls + step.poll_failures + 1, ctx.settings, ctx.rng)
    if isinstance(error, pe.RateLimited) and error.retry_after is not None:
        later = max(later, now + min(error.retry_after, schedule.SUBMIT_BACKOFF_MAX_S))
    return step_rules.poll_failed(step, now, later, not_found=not_found)


def overdue(before: Step, after: Step, now: float, ctx: Context) -> EventDraft | None:
    """A local deadline is a flag, not a verdict: the step keeps being reconciled, and if the
    provider later reports success the pipeline continues. The flag is raised once, by the
    first observation past the deadline."""
    if not after.status.in_flight or after.submitted_at is None:
        return None
    deadline = after.submitted_at + ctx.settings.task_deadline_s
    if not before.updated_at < deadline <= now:
        return None
    return EventDraft(
        "step.overdue",
        after.pipeline_id,
        after.index,
        {
            "index": after.index,
            "deadline_s": ctx.settings.task_deadline_s,
            "status": str(after.status),
        },
    )
