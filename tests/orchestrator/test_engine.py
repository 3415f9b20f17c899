"""The engine against a recording fake provider and a real SQLite file."""

from __future__ import annotations

import random

from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.providers.config import ProviderSettings
from orchestrator.plans import PipelineRequest
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.fakes import FakeProvider


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def drive(engine: Engine, clock: Clock, rounds: int = 50) -> None:
    for _ in range(rounds):
        clock.now += 120
        await engine.run_once()


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
    request = PipelineRequest(
        provider="fake", prompt="a cat", extends=[{"prompt": "runs"}, {"prompt": "jumps"}]
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
