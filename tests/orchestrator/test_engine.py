"""The engine against a recording fake provider and a real SQLite file."""

from __future__ import annotations

import random

from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers import errors as pe
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import CHAIN, drive


async def test_chain_runs_to_success(settings: Settings, store: Store, fake: FakeProvider) -> None:
    """A generate + 2 extends pipeline succeeds with each step submitted once, in order."""
    clock = Clock()
    providers = {"fake": fake}
    engine = Engine(
        store,
        providers,
        settings,
        clock=clock,
        rng=random.Random(1),
        provider_settings={"fake": ProviderSettings(base_url="http://fake")},
    )
    ops = Operations(store, providers, clock=clock)
    request = PipelineRequest.model_validate(
        {
            "provider": "fake",
            "prompt": "a cat",
            "extends": [{"prompt": "runs"}, {"prompt": "jumps"}],
        }
    )
    view, created = await ops.create(request)
    assert created
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert [s.status for s in final.steps] == ["succeeded"] * 3
    assert len(fake.submits) == 3
    sources = [fake.tasks[s.provider_task_id or ""].source for s in final.steps]
    assert sources == [None, final.steps[0].provider_task_id, final.steps[1].provider_task_id]


def make_engine(
    settings: Settings, store: Store, fake: FakeProvider, clock: Clock, replica: str = "r1"
) -> tuple[Engine, Operations]:
    providers = {"fake": fake}
    engine = Engine(
        store,
        providers,
        settings,
        clock=clock,
        rng=random.Random(1),
        provider_settings={"fake": ProviderSettings(base_url="http://fake")},
        replica=replica,
    )
    return engine, Operations(store, providers, clock=clock)


async def test_failure_cancels_below_and_fails_pipeline(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A step refused by content policy fails the pipeline; the step below is never submitted."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    fake.fail_prompts.add("b")
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert [s.status for s in final.steps] == ["succeeded", "failed", "cancelled"]
    assert final.pipeline.status == "failed"
    assert final.pipeline.error is not None
    assert final.pipeline.error.code == "CONTENT_POLICY"
    assert len(fake.submits) == 2


async def test_retryable_submit_errors_are_retried(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A 429 and a connect error before sending are retried; the pipeline still succeeds."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    fake.submit_errors += [
        pe.RateLimited("slow down", provider="fake", retry_after=5),
        pe.RequestNotSent("connection refused", provider="fake"),
    ]
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    final = await ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert final.steps[0].attempts == 3
    assert len(fake.submits) == 3


async def test_ambiguous_submit_is_held_not_resubmitted(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A submit whose answer was lost is held as ambiguous and never sent again."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    fake.submit_errors.append(pe.OutcomeUnknown("read timeout", provider="fake"))
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock, rounds=10)
    final = await ops.get(view.pipeline.id)
    assert final.steps[0].status == "ambiguous"
    assert final.steps[0].attempts == 1
    assert final.pipeline.status == "running"
    assert fake.submits == []
    events = await store.events(view.pipeline.id)
    assert "step.ambiguous" in [e.type for e in events]


async def test_auth_error_names_the_setting(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A 401 fails the step with a message naming the API key setting."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    fake.submit_errors.append(pe.AuthError("bad key", provider="fake", status_code=401))
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock, rounds=3)
    step = (await ops.get(view.pipeline.id)).steps[0]
    assert step.error is not None
    assert "REELAY_FAKE_API_KEY" in step.error.message


async def test_restart_holds_interrupted_submits(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A step left submitting by a crash is held as ambiguous after restart, never resent."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    view, _ = await ops.create(CHAIN)
    await engine.claim()  # the process dies after recording intent, before the answer
    fresh, _ = make_engine(settings, store, fake, clock, replica="r2")
    assert await fresh.recover(starting=True) == 1
    await drive(fresh, clock, rounds=5)
    step = (await ops.get(view.pipeline.id)).steps[0]
    assert step.status == "ambiguous"
    assert step.error is not None
    assert step.error.code == "SUBMIT_INTERRUPTED"
    assert fake.submits == []


async def test_poll_errors_back_off_and_recover(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """Failed status requests are retried later; the pipeline still completes."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    fake.poll_errors += [
        pe.ProviderUnavailable("502", provider="fake", status_code=502),
        pe.TaskNotFound("not yet", provider="fake", status_code=404),
    ]
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"


async def test_events_are_numbered_per_pipeline(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """Every transition appends an event, numbered 1, 2, 3... per pipeline."""
    clock = Clock()
    engine, ops = make_engine(settings, store, fake, clock)
    view, _ = await ops.create(CHAIN)
    await drive(engine, clock)
    events = await store.events(view.pipeline.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "pipeline.created"
    assert types[-1] == "pipeline.succeeded"
    assert types.count("step.submitted") == 3
    assert types.count("step.succeeded") == 3
