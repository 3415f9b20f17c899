"""When failed status requests fail a step: only an unbroken run of "no such task" answers."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from orchestrator.domain.models import StepStatus
from orchestrator.domain.values import Capabilities, TaskState, TaskStatus
from orchestrator.engine import outcomes
from orchestrator.engine.perform import Polled, PollFailed
from orchestrator.providers import errors as pe
from orchestrator.providers.config import ProviderSettings
from tests.orchestrator.helpers import make

CTX = outcomes.Context(
    settings=ProviderSettings(base_url="http://fake"),
    capabilities=Capabilities(
        callbacks=False,
        max_extend_depth=1,
        aspect_ratios=frozenset({"16:9"}),
        resolutions=frozenset({"720p"}),
        durations=frozenset({8}),
        typical_task_seconds=0.0,
    ),
    max_submit_attempts=8,
    rng=random.Random(1),
)
KEY = ("pl_1", 0)


def unavailable() -> PollFailed:
    return PollFailed(KEY, pe.ProviderUnavailable("503", provider="fake", status_code=503))


def refused() -> PollFailed:
    return PollFailed(KEY, pe.RequestNotSent("connection refused", provider="fake"))


def not_found() -> PollFailed:
    return PollFailed(KEY, pe.TaskNotFound("no such task", provider="fake", status_code=404))


def succeeded() -> Polled:
    return Polled(KEY, TaskStatus("t1", TaskState.SUCCEEDED, "done", video_urls=("https://v",)))


def run(*sequence: PollFailed | Polled) -> StepStatus:
    step = make(StepStatus.RUNNING, provider_task_id="t1", submitted_at=0.0)
    for n, outcome in enumerate(sequence):
        step = outcomes.apply(step, outcome, 10.0 + n, CTX)
    return step.status


def test_an_outage_then_a_few_404s_then_success_succeeds() -> None:
    """5xx and refused connections do not count towards TASK_NOT_FOUND: the first 404s after
    a provider outage are tolerated, and the paid result is kept."""
    outage = [unavailable(), refused()] * 5
    lag = [not_found()] * (outcomes.TASK_NOT_FOUND_LIMIT - 1)
    assert run(*outage, *lag, succeeded()) is StepStatus.SUCCEEDED


def test_any_other_answer_starts_the_404_count_over() -> None:
    """404s interrupted by a 5xx are not consecutive."""
    half = [not_found()] * (outcomes.TASK_NOT_FOUND_LIMIT - 1)
    assert run(*half, unavailable(), *half) is StepStatus.RUNNING


def test_consecutive_404s_fail_the_step() -> None:
    """The tolerance still ends: enough 404s in a row mean the task is gone."""
    limit = outcomes.TASK_NOT_FOUND_LIMIT
    assert run(unavailable(), *[not_found()] * (limit - 1)) is StepStatus.RUNNING
    assert run(unavailable(), *[not_found()] * limit) is StepStatus.FAILED


@pytest.mark.parametrize("failure", [unavailable, refused, not_found])
def test_every_failure_slows_the_polls(failure: Callable[[], PollFailed]) -> None:
    """The backoff still counts every failure, whatever its kind."""
    step = make(StepStatus.RUNNING, provider_task_id="t1", submitted_at=0.0)
    after = outcomes.apply(step, failure(), 10.0, CTX)
    assert after.poll_failures == 1
    assert after.next_at is not None
    assert after.next_at > 10.0
