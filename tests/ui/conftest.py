"""``board``: the dashboard with an API token, a signed-out browser, the engine to run steps.
``priced``: the same on two providers, ``apixo`` priced (and refunding a failed task) and
``octopusx`` not, with budgets."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.domain.prices import PriceBook, PriceRow
from orchestrator.engine import Engine
from orchestrator.engine.budget import settings_caps
from orchestrator.operations import Operations
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.spending import Spending
from orchestrator.store import Store
from orchestrator.ui import Dashboard, dashboard_mount
from orchestrator.ui.session import Sessions
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import rig
from tests.ui.helpers import TOKEN, Board, PricedBoard

PRICES = PriceBook(
    [
        PriceRow("apixo", None, "generate", 200_000, "video", None, None, "test"),
        PriceRow("apixo", None, "extend", 150_000, "video", None, None, "test"),
    ]
)
"""apixo: $0.20 a generate, $0.15 an extend; octopusx has no price."""


@pytest.fixture
async def board(settings: Settings, store: Store, fake: FakeProvider) -> AsyncIterator[Board]:
    engine, ops, clock = rig(settings, store, fake)
    dash = Dashboard(
        Sessions("stored-secret", [TOKEN], clock=clock), {"api": TOKEN}, {"fake": fake}, clock=clock
    )
    app = create_api_app(ops, store, api_token=TOKEN, mounts=[dashboard_mount(dash)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
        yield Board(client, ops, engine, clock, fake, store, app)


@pytest.fixture
async def priced(settings: Settings, store: Store) -> AsyncIterator[PricedBoard]:
    """A month cap of $50 on apixo comes from the settings."""
    capped = settings.apixo.model_copy(update={"budget_usd_per_month": Decimal("50")})
    settings = settings.model_copy(update={"apixo": capped})
    apixo, octopusx = FakeProvider(name="apixo"), FakeProvider(name="octopusx")
    providers = {"apixo": apixo, "octopusx": octopusx}
    clock = Clock()
    engine = Engine(
        store,
        providers,
        settings,
        clock=clock,
        rng=random.Random(2),
        provider_settings={
            name: ProviderSettings(
                base_url="http://fake", first_poll_s=0, refund_on_failure=name == "apixo"
            )
            for name in providers
        },
        replica="r1",
        prices=PRICES,
    )
    ops = Operations(store, providers, clock=clock, prices=PRICES)
    spending = Spending(store, settings_caps(settings), wake=engine.wake, clock=clock)
    sessions = Sessions("stored-secret", [TOKEN], clock=clock)
    dash = Dashboard(sessions, {"api": TOKEN}, providers, clock=clock)
    app = create_api_app(
        ops, store, api_token=TOKEN, mounts=[dashboard_mount(dash)], spending=spending
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
        yield PricedBoard(client, ops, engine, clock, apixo, store, app, octopusx, spending)
