"""Background loops through a database outage: they wait it out and say so once; a shutdown
that cuts a submit off names it."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from orchestrator import engine as engine_module
from orchestrator.backoff import Outage, delay
from orchestrator.models import StepStatus
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.base import GenerateRequest
from orchestrator.settings import Settings
from orchestrator.store import Store
from orchestrator.workers import ClaimLoop
from tests.clock import Clock
from tests.eventually import eventually
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import fake_engine

log = logging.getLogger("reelay.test-outage")


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    rng = random.Random(1)
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    for attempt, ceiling in enumerate(ceilings, start=1):
        assert ceiling / 2 <= delay(attempt, rng) <= ceiling


async def test_claim_loop_survives_a_store_outage(caplog: pytest.LogCaptureFixture) -> None:
    """Claims that fail (connection refused) are tried again; the loop goes on to perform
    what is claimed once the database answers. One WARNING when the outage starts, one INFO
    when it ends, no traceback."""
    caplog.set_level(logging.INFO, logger=log.name)
    answers: list[list[int] | Exception] = [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
        [1, 2],
    ]
    performed: list[int] = []

    async def claim(limit: int) -> list[int]:
        answer = answers.pop(0) if answers else []
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def next_due() -> float | None:
        return None

    loop: ClaimLoop[int] = ClaimLoop(
        claim=claim,
        perform=lambda item: _append(performed, item),
        next_due=next_due,
        clock=lambda: 0.0,
        concurrency=4,
        tick_s=0.01,
        name="test items",
        logger=log,
    )
    running = asyncio.create_task(loop.run())

    async def done() -> bool:
        assert not running.done(), running
        return sorted(performed) == [1, 2]

    await eventually(done, within=30, what="the claimed items to be performed", every=0.01)
    loop.stop()
    await running
    records = [r for r in caplog.records if r.name == log.name]
    assert [r.levelname for r in records] == ["WARNING", "INFO"]
    assert "Connection refused" in records[0].getMessage()
    assert "after 3 failed attempt(s)" in records[1].getMessage()
    assert not any(r.exc_info for r in records)


async def _append(items: list[int], item: int) -> None:
    items.append(item)


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
