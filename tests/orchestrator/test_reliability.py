"""Operator retry, the ambiguity policy, adopting ambiguous submits, and back-pressure."""

from __future__ import annotations

import random

import pytest

from orchestrator.domain.callbacks import Callback, CallbackTarget
from orchestrator.domain.values import TaskState, TaskStatus
from orchestrator.engine import Engine
from orchestrator.engine.pressure import BALANCE_PROBE_S, ProviderPressure
from orchestrator.intake import CallbackInbox
from orchestrator.operations import Conflict, Operations
from orchestrator.providers import errors as pe
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import CHAIN, drive, fake_engine, rig


async def test_retry_resumes_a_failed_pipeline(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """After a step fails, retry submits it again and the cancelled steps below it too."""
    engine, ops, clock = rig(settings, store, fake)
    fake.fail_prompts.add("b")
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    assert (await ops.get(view.pipeline.id)).pipeline.status == "failed"
    fake.fail_prompts.clear()
    retried = await ops.retry(view.pipeline.id)
    assert retried.pipeline.status == "running"
    assert [s.status for s in retried.steps] == ["succeeded", "pending", "pending"]
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert len(fake.submits) == 4  # a, b (failed), b again, c


async def test_retry_refusals(settings: Settings, store: Store, fake: FakeProvider) -> None:
    """Nothing to retry, or a cancelled pipeline, is a conflict."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    with pytest.raises(Conflict):
        await ops.retry(view.pipeline.id)
    await ops.cancel(view.pipeline.id)
    with pytest.raises(Conflict):
        await ops.retry(view.pipeline.id)


async def test_hold_then_operator_retry(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """With the default policy an unknown outcome is held; the operator's retry resubmits."""
    engine, ops, clock = rig(settings, store, fake)
    fake.submit_errors.append(pe.OutcomeUnknown("read timeout", provider="fake"))
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock, 5)
    assert (await ops.get(view.pipeline.id)).steps[0].status == "ambiguous"
    await ops.retry(view.pipeline.id)
    await drive(engine, clock)
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"


async def test_resubmit_policy(settings: Settings, store: Store, fake: FakeProvider) -> None:
    """REELAY_AMBIGUOUS_POLICY=resubmit sends an unknown-outcome submit again by itself."""
    engine, ops, clock = rig(settings, store, fake, ambiguous_policy="resubmit")
    fake.submit_errors.append(pe.OutcomeUnknown("read timeout", provider="fake"))
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert final.steps[0].attempts == 2


async def test_callback_adopts_an_ambiguous_submit(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A crash after the submit left the step ambiguous; the provider's callback names the
    task, so the step continues from it without a second submit."""
    engine, ops, clock = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    claimed = await engine.claim()
    await engine.perform(claimed[0])  # the provider created the task...
    engine = fake_engine(store, fake, settings, clock, "restarted")
    await engine.recover(starting=True)  # ...but reelay died before recording it
    assert (await ops.get(view.pipeline.id)).steps[0].status == "ambiguous"
    task = fake.submits[0]
    inbox = CallbackInbox(store, clock=clock)
    await inbox.record(
        Callback(
            CallbackTarget(view.pipeline.id, 0, "fake"),
            TaskStatus(task, TaskState.SUCCEEDED, "succeeded"),
            b"{}",
        )
    )
    await inbox.close()
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert final.steps[0].provider_task_id == task
    assert final.pipeline.status == "succeeded"
    assert len(fake.submits) == 3  # nothing submitted twice


async def test_rate_limit_cools_down_the_provider(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A 429 with Retry-After stops requests to that provider until then."""
    engine, ops, clock = rig(settings, store, fake)
    fake.submit_errors.append(pe.RateLimited("slow down", provider="fake", retry_after=300))
    view, _ = await ops.create(CHAIN)
    clock.now += 1
    await engine.run_once()
    health = engine.health()["fake"]
    assert health["cooling_down_until"] == pytest.approx(clock.now + 300, abs=1)
    clock.now += 100
    assert await engine.run_once() == 0  # still cooling down
    clock.now += 300
    await drive(engine, clock)
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"


async def test_insufficient_balance_pauses_instead_of_failing(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A 402 keeps the step pending, pauses the provider, and a later probe resumes it."""
    engine, ops, clock = rig(settings, store, fake)
    fake.submit_errors += [pe.InsufficientBalance("top up", provider="fake", status_code=402)] * 2
    view, _ = await ops.create(CHAIN)
    await engine.run_once()
    step = (await ops.get(view.pipeline.id)).steps[0]
    assert step.status == "pending"
    assert step.error is not None
    assert step.error.code == "INSUFFICIENT_BALANCE"
    assert engine.health()["fake"]["submissions_paused"] is True
    clock.now += BALANCE_PROBE_S + 1
    await engine.run_once()  # the probe: 402 again
    assert engine.health()["fake"]["submissions_paused"] is True
    await drive(engine, clock)
    assert engine.health()["fake"]["submissions_paused"] is False
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"


def test_window_shrinks_and_grows() -> None:
    """429s halve the request window; successes add one back, up to the maximum."""
    pressure = ProviderPressure("x", max_window=16)
    pressure.rate_limited(0.0, None)
    pressure.rate_limited(0.0, None)
    assert pressure.request_slots(0.0) == 4
    for _ in range(20):
        pressure.succeeded(submit=False)
    assert pressure.request_slots(0.0) == 16


async def test_token_bucket_paces_requests() -> None:
    """With a request rate, the bucket makes callers wait once it is empty."""
    clock = Clock(0.0)
    pressure = ProviderPressure("x", max_window=8, rate_per_s=2.0)
    await pressure.take_token(clock)
    await pressure.take_token(clock)
    waited = False

    async def later() -> None:
        nonlocal waited
        await pressure.take_token(clock)
        waited = True

    import asyncio

    task = asyncio.create_task(later())
    await asyncio.sleep(0.05)
    assert not waited
    clock.advance(1.0)
    await asyncio.wait_for(task, 15)  # the bucket's own wait is real: 0.5 s
    assert waited


async def test_overdue_is_flagged_once_and_still_reconciled(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A task running past its deadline is flagged once; when it later succeeds, the pipeline
    continues."""
    fake.polls_to_finish = 40
    clock = Clock()
    engine = Engine(
        store,
        {"fake": fake},
        settings,
        clock=clock,
        rng=random.Random(2),
        provider_settings={
            "fake": ProviderSettings(
                base_url="http://fake", first_poll_s=0, poll_max_interval_s=60, task_deadline_s=600
            )
        },
    )
    ops = Operations(store, {"fake": fake}, clock=clock)
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock, 200)
    events = [e.type for e in await store.events(view.pipeline.id)]
    assert events.count("step.overdue") == 3  # once per step
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"


async def test_max_in_flight_limits_tasks_per_provider(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """With REELAY_<P>_MAX_IN_FLIGHT=2, never more than two tasks are submitted and unfinished."""
    fake.polls_to_finish = 2
    clock = Clock()
    engine = Engine(
        store,
        {"fake": fake},
        settings,
        clock=clock,
        rng=random.Random(2),
        provider_settings={
            "fake": ProviderSettings(base_url="http://fake", first_poll_s=0, max_in_flight=2)
        },
    )
    ops = Operations(store, {"fake": fake}, clock=clock)
    ids = [(await ops.create(CHAIN))[0].pipeline.id for _ in range(5)]
    peak = 0
    for _ in range(80):
        clock.now += 120
        await engine.run_once()
        unfinished = [t for t in fake.tasks.values() if t.polls < fake.polls_to_finish]
        peak = max(peak, len(unfinished))
    assert peak == 2
    assert {(await ops.get(i)).pipeline.status for i in ids} == {"succeeded"}
