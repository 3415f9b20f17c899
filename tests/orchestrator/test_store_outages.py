"""Background loops through a database outage: they wait it out and say so once; a shutdown
that cuts a submit off names it."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from orchestrator.common import backoff
from orchestrator.common.backoff import Outage, delay
from orchestrator.domain.models import StepStatus
from orchestrator.engine import engine as engine_module
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.base import GenerateRequest
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import fake_engine

log = logging.getLogger("reelay.test-outage")


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    rng = random.Random(1)
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    for attempt, ceiling in enumerate(ceilings, start=1):
        assert ceiling / 2 <= delay(attempt, rng) <= ceiling


def test_backoff_ceiling_is_bounded_however_many_failures() -> None:
    """The un-jittered wait other schedules start from: doubling, capped, no overflow."""
    assert [backoff.ceiling(n, base_s=5.0, max_s=600.0) for n in (1, 2, 3, 8, 9)] == [
        5.0,
        10.0,
        20.0,
        600.0,
        600.0,
    ]
    assert backoff.ceiling(10**6, base_s=5.0, max_s=600.0) == 600.0


async def test_outage_retry_gives_up_only_when_told() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise OSError("down")
        return "up"

    async def no_sleep(_: float) -> None:
        return None

    outage = Outage("a flaky call", log, sleep=no_sleep)
    with pytest.raises(OSError, match="down"):
        await outage.retry(flaky, attempts=2)
    assert await outage.retry(flaky) == "up"
    assert not outage.ongoing


class Hanging(FakeProvider):
    """A provider whose submits never answer."""

    def __init__(self) -> None:
        super().__init__()
        self.called = asyncio.Event()

    async def generate(self, request: GenerateRequest) -> str:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_shutdown_warns_of_each_submit_it_cut_off(
    settings: Settings,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A submit still unanswered after the shutdown's grace period is held as ambiguous now,
    and a WARNING names its pipeline and step and what the operator can do."""
    monkeypatch.setattr(engine_module, "SHUTDOWN_SUBMIT_WAIT_S", 0.01)
    caplog.set_level(logging.WARNING, logger="reelay.engine")
    fake = Hanging()
    clock = Clock()
    engine = fake_engine(store, fake, settings, clock, "r1")
    ops = Operations(store, {"fake": fake}, clock=clock)
    view, _ = await ops.create(PipelineRequest.model_validate({"provider": "fake", "prompt": "a"}))
    running = asyncio.create_task(engine.run())
    await asyncio.wait_for(fake.called.wait(), 20)
    engine.stop()
    await asyncio.wait_for(running, 20)
    pid = view.pipeline.id
    step = (await ops.get(pid)).steps[0]
    assert step.status is StepStatus.AMBIGUOUS
    warnings = [
        r.getMessage() for r in caplog.records if "cut off by the shutdown" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert f"step 0 of pipeline {pid}" in warnings[0]
    assert f"reelay retry {pid}" in warnings[0]
    assert f"POST /v1/pipelines/{pid}/retry" in warnings[0]
