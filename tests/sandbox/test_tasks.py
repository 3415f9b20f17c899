"""Task state as a pure function of time, and the identical-submit fingerprint."""

from __future__ import annotations

import pytest

from orchestrator.sandbox.tasks import Outcome, Phase, Task, fingerprint


def task(outcome: Outcome = Outcome.SUCCESS, seconds: float = 10.0) -> Task:
    return Task(
        provider="apifree",
        kind="generate",
        task_id="video_1",
        number=1,
        model="m",
        prompt="p",
        created_at=100.0,
        done_at=100.0 + seconds,
        expires_at=100.0 + seconds + 60,
        outcome=outcome,
        media_token="tok",
        base_url="http://sandbox.test",
        fingerprint="f",
    )


@pytest.mark.parametrize(
    ("elapsed", "phase", "progress"),
    [
        (0.0, Phase.QUEUED, 0),
        (0.9, Phase.QUEUED, 0),
        (1.0, Phase.RUNNING, 10),
        (5.0, Phase.RUNNING, 50),
        (9.99, Phase.RUNNING, 99),
        (10.0, Phase.SUCCEEDED, 100),
        (500.0, Phase.SUCCEEDED, 100),
    ],
)
def test_phase_and_progress_follow_elapsed_time(
    elapsed: float, phase: Phase, progress: int
) -> None:
    """The first tenth is queued, then progress rises until the task succeeds at its end."""
    now = 100.0 + elapsed
    assert (task().phase(now), task().progress(now)) == (phase, progress)


@pytest.mark.parametrize(
    ("outcome", "phase", "has_output"),
    [
        (Outcome.SUCCESS, Phase.SUCCEEDED, True),
        (Outcome.NO_OUTPUT, Phase.SUCCEEDED, False),
        (Outcome.CONTENT_POLICY, Phase.FAILED, False),
    ],
)
def test_outcome_decides_the_end(outcome: Outcome, phase: Phase, has_output: bool) -> None:
    """A task ends as its drawn outcome says."""
    ended = task(outcome)
    assert (ended.phase(110.0), ended.has_output) == (phase, has_output)


def test_zero_second_task_is_done_at_once() -> None:
    """With task_seconds 0 the first poll already sees the end."""
    instant = task(seconds=0)
    assert (instant.phase(100.0), instant.progress(100.0)) == (Phase.SUCCEEDED, 100)


def test_expired_only_after_success_and_link_lifetime() -> None:
    """A task counts as expired once its link lifetime after success is over."""
    assert [task().expired(now) for now in (105.0, 110.0, 169.9, 170.0)] == [
        False,
        False,
        False,
        True,
    ]
    assert not task(Outcome.CONTENT_POLICY).expired(170.0)


def test_fingerprint_ignores_callback_fields_only() -> None:
    """Bodies differing only in callback keys share a fingerprint; key order never matters."""
    body = {"model": "m", "prompt": "p", "webhook": "http://a.test"}
    same = fingerprint("apimart", "generate", None, body, "webhook")
    assert same == fingerprint(
        "apimart", "generate", None, {"prompt": "p", "model": "m"}, "webhook"
    )
    assert same != fingerprint("apimart", "extend", "task_1", body, "webhook")
    assert same != fingerprint("apimart", "generate", None, body | {"prompt": "q"}, "webhook")
