"""Engines, operations and price books for the money tests, on the test clock."""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal

from orchestrator.domain.ledger import LedgerEntry
from orchestrator.domain.prices import PriceBook, PriceRow
from orchestrator.engine import Engine
from orchestrator.engine.budget import settings_caps
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.spending import Spending
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider

GENERATE = 200_000
EXTEND = 300_000


def book(*providers: str, generate: int = GENERATE, extend: int = EXTEND) -> PriceBook:
    """``generate`` and ``extend`` micro-USD per video on each of ``providers``."""
    rows = []
    for name in providers:
        rows.append(PriceRow(name, None, "generate", generate, "video", None, None, "test"))
        rows.append(PriceRow(name, None, "extend", extend, "video", None, None, "test"))
    return PriceBook(rows)


def request(provider: str = "fake", extends: int = 0, **fields: object) -> PipelineRequest:
    """A generate and ``extends`` extends on ``provider`` (left out when ``fields`` name
    ``providers``, or ``prompt``: the body is then exactly ``fields``)."""
    body: dict[str, object] = {"extends": [{"prompt": f"then {i}"} for i in range(extends)]}
    if "prompt" not in fields:
        body["prompt"] = "a cat"
        if "providers" not in fields:
            body["provider"] = provider
    return PipelineRequest.model_validate({**body, **fields})


class Rig:
    """One replica's engine, operations and spending over ``fakes``, on one clock."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fakes: Mapping[str, FakeProvider],
        prices: PriceBook,
        *,
        clock: Clock | None = None,
        replica: str = "r1",
        refund: bool = False,
    ) -> None:
        self.clock = clock or Clock()
        self.store = store
        configs = {
            name: ProviderSettings(base_url="http://fake", first_poll_s=0, refund_on_failure=refund)
            for name in fakes
        }
        self.engine = Engine(
            store,
            dict(fakes),
            settings,
            clock=self.clock,
            rng=random.Random(3),
            provider_settings=configs,
            replica=replica,
            prices=prices,
        )
        self.ops = Operations(
            store,
            dict(fakes),
            clock=self.clock,
            prices=prices,
            health=self.engine.provider_health.reasons,
        )
        self.spending = Spending(store, settings_caps(settings), clock=self.clock)

    async def drive(self, rounds: int = 12, step_s: float = 60) -> None:
        for _ in range(rounds):
            self.clock.advance(step_s)
            await self.engine.run_once()

    async def ledger(self, pipeline_id: str) -> list[LedgerEntry]:
        return await self.store.ledger([pipeline_id])


def usd(micros: int) -> Decimal:
    return Decimal(micros) / 1_000_000
