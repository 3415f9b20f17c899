"""Provider health: degraded on an error streak, a 429 cooldown or a 402 pause; logged once per
change, named in the engine's health, and every failed step logged."""

from __future__ import annotations

import logging

import pytest

from orchestrator.engine import health
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.providers import errors as pe
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import CHAIN, drive, rig


def board() -> tuple[health.ProviderHealth, ProviderPressure, Clock]:
    clock = Clock()
    pressure = ProviderPressure("apixo", max_window=8)
    return health.ProviderHealth({"apixo": pressure}, clock=clock), pressure, clock


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "reelay.health"]


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        ("200", False),
        ("503", True),
        ("500", True),
        ("408", True),
        ("ConnectError", True),
        ("ReadTimeout", True),
        ("404", None),
        ("400", None),
        ("429", None),
        ("CancelledError", None),
    ],
)
def test_which_answers_count_as_failing(outcome: str, verdict: bool | None) -> None:
    """5xx, 408 and transport errors count; a request's own 4xx, and our shutdown, don't."""
    assert health.failed(outcome) is verdict


def test_an_outage_is_said_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    """A streak of failures: one WARNING naming the provider and the reason, however many
    requests fail; one INFO once it answers again."""
    caplog.set_level(logging.INFO, "reelay.health")
    hb, _, _ = board()
    for _ in range(40):
        hb.observe("apixo", "status", "503", 0.01)
    assert set(hb.degraded()) == {"apixo"}
    assert "failing" in hb.degraded()["apixo"]
    for _ in range(health.RECOVER_AFTER):
        hb.observe("apixo", "status", "200", 0.01)
    assert hb.degraded() == {}
    said = lines(caplog)
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO]
    assert "apixo" in said[0][1]
    assert "HTTP 503" in said[0][1]
    assert "recovered" in said[1][1]


def test_mostly_failing_without_a_streak() -> None:
    """Alternating failures never make a streak, but most requests failing is degraded."""
    hb, _, _ = board()
    for n in range(health.WINDOW):
        hb.observe("apixo", "status", "ConnectError" if n % 3 else "200", 0.01)
    assert "failing" in hb.degraded()["apixo"]


def test_a_few_errors_are_not_an_outage() -> None:
    hb, _, _ = board()
    for n in range(health.WINDOW * 2):
        hb.observe("apixo", "status", "502" if n % 5 == 0 else "200", 0.01)
    assert hb.degraded() == {}


def test_cooldown_and_pause_are_degraded(caplog: pytest.LogCaptureFixture) -> None:
    """A 429 cooldown lasts until its end; a 402 pause until a submit passes."""
    caplog.set_level(logging.INFO, "reelay.health")
    hb, pressure, clock = board()
    for _ in range(5):  # a 429 storm: one line, not one per 429
        pressure.rate_limited(clock.now, 30)
        hb.check("apixo")
    assert set(hb.degraded()["apixo"]) == {"rate_limited"}
    clock.now += 31
    assert hb.degraded() == {}
    pressure.out_of_balance(clock.now)
    assert set(hb.degraded()["apixo"]) == {"paused"}
    pressure.succeeded(submit=True)
    assert hb.degraded() == {}
    said = lines(caplog)
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO] * 2
    assert "429" in said[0][1]
    assert "402" in said[2][1]


async def test_engine_health_and_failed_steps_are_reported(
    settings: Settings, store: Store, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's health names a degraded provider and why; a step that fails logs a WARNING
    with its pipeline, step, provider and error code."""
    caplog.set_level(logging.INFO)
    engine, ops, clock = rig(settings, store, fake)
    fake.submit_errors.append(pe.InsufficientBalance("top up", provider="fake", status_code=402))
    view, _ = await ops.create(CHAIN)
    await engine.run_once()
    state = engine.health()["fake"]
    assert state["degraded"] is True
    assert state["reasons"] == [
        "insufficient balance (402): submissions paused until a probe passes"
    ]
    fake.fail_prompts.add("a")  # the probe passes; the provider then fails the task
    clock.now += 3600
    await drive(engine, clock)
    assert engine.health()["fake"]["degraded"] is False
    failed = [r for r in caplog.records if r.getMessage().startswith("step 0 of")]
    assert len(failed) == 1
    record = failed[0]
    assert record.levelno == logging.WARNING
    fields = record.__dict__
    assert (fields["pipeline_id"], fields["step"], fields["provider"], fields["code"]) == (
        view.pipeline.id,
        0,
        "fake",
        "CONTENT_POLICY",
    )
