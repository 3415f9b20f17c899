"""What several orchestrator test modules build the same way: a step, a three-step chain, an
engine on the fake provider, and the loop that drives it on the test clock."""

from __future__ import annotations

import random

from orchestrator.domain.models import Step, StepStatus
from orchestrator.domain.values import VideoParams
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider

CHAIN = PipelineRequest.model_validate(
    {"provider": "fake", "prompt": "a", "extends": [{"prompt": "b"}, {"prompt": "c"}]}
)
"""A generate and two extends, each on the one before."""


def make(status: StepStatus = StepStatus.PENDING, **kw: object) -> Step:
    """Step 0 of ``pl_1`` on the fake provider, in ``status``; keywords override any field."""
    base: dict[str, object] = {
        "pipeline_id": "pl_1",
        "index": 0,
        "provider": "fake",
        "kind": "generate",
        "parent": None,
        "prompt": "p",
        "model": "m",
        "params": VideoParams(),
        "provider_options": {},
        "status": status,
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    base.update(kw)
    return Step(**base)  # type: ignore[arg-type]


def fake_engine(
    store: Store, fake: FakeProvider, settings: Settings, clock: Clock, name: str
) -> Engine:
    """Replica ``name``'s engine on the fake provider, polled from the first moment."""
    return Engine(
        store,
        {"fake": fake},
        settings,
        clock=clock,
        rng=random.Random(2),
        provider_settings={"fake": ProviderSettings(base_url="http://fake", first_poll_s=0)},
        replica=name,
    )


def rig(
    settings: Settings, store: Store, fake: FakeProvider, **overrides: object
) -> tuple[Engine, Operations, Clock]:
    """Replica ``r1``'s engine (settings changed by ``overrides``), operations, their clock."""
    clock = Clock()
    engine = fake_engine(store, fake, settings.model_copy(update=overrides), clock, "r1")
    return engine, Operations(store, {"fake": fake}, clock=clock), clock


async def drive(engine: Engine, clock: Clock, rounds: int = 30) -> None:
    """``rounds`` engine rounds, two minutes of the clock apart."""
    for _ in range(rounds):
        clock.advance(120)
        await engine.run_once()
