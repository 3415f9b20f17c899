"""A served API with money to show: two priced fake providers, pipelines already run on them,
a runtime cap that keeps one step waiting, and a record of every request body it received."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api import create_api_app
from orchestrator.domain.prices import PriceBook, PriceRow
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.spending import Spending
from orchestrator.store import open_store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.loopback import serve_app

PRICES = PriceBook(
    [
        PriceRow("fake", None, "generate", 200_000, "video", None, None, "test"),
        PriceRow("spare", None, "generate", 300_000, "video", None, None, "test"),
    ]
)
"""Generations cost $0.20 on fake and $0.30 on spare; extends are unpriced."""


class Recording:
    """An ASGI wrapper keeping (method, path, JSON body or None) of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[tuple[str, str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recorded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    raw = b"".join(chunks)
                    body = json.loads(raw) if raw else None
                    self.requests.append((scope["method"], scope["path"], body))
            return message

        await self.app(scope, recorded, send)


@dataclass
class MoneyApi:
    url: str
    chain: str
    """On fake: a $0.20 generate and an unpriced extend, both run."""
    budgeted: str
    """On spare, with a $1.00 budget: a $0.30 generate, run."""
    recording: Recording

    def bodies(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.recording.requests if (m, p) == (method, path)]


@pytest.fixture
def money_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MoneyApi]:
    """Spend on 2023-11-14: fake $0.20 (and an unpriced submit), spare $0.30; then a global
    cap of $0.60 a day set at run time, which a third pipeline's $0.30 step waits for."""
    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, MoneyApi] = {}

    async def serve() -> None:
        store = await open_store(settings.database_url)
        clock = Clock()
        fakes = {"fake": FakeProvider(), "spare": FakeProvider(name="spare")}
        ops = Operations(store, fakes, clock=clock, prices=PRICES)
        engine = Engine(
            store,
            fakes,
            settings,
            clock=clock,
            rng=random.Random(0),
            prices=PRICES,
            provider_settings={n: ProviderSettings(base_url="x", first_poll_s=0) for n in fakes},
        )
        spending = Spending(
            store, {scope: (None, None) for scope in ("global", *fakes)}, clock=clock
        )

        async def create(body: dict[str, Any]) -> str:
            view, _ = await ops.create(PipelineRequest.model_validate(body))
            return view.pipeline.id

        async def run() -> None:
            for _ in range(10):
                clock.advance(60)
                await engine.run_once()

        chain = await create({"provider": "fake", "prompt": "a", "extends": [{"prompt": "b"}]})
        budgeted = await create({"provider": "spare", "prompt": "c", "budget_usd": "1.00"})
        await run()
        await spending.set_caps("global", {"day": 600_000})
        await create({"provider": "spare", "prompt": "d"})
        await run()
        recording = Recording(create_api_app(ops, store, api_token="tok", spending=spending))
        async with serve_app(recording, lifespan="off") as url:
            holder["api"] = MoneyApi(url, chain, budgeted, recording)
            ready.set()
            await asyncio.to_thread(stop.wait)
        await store.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(20)
    monkeypatch.setenv("REELAY_API_URL", holder["api"].url)
    monkeypatch.setenv("REELAY_API_TOKEN", "tok")
    yield holder["api"]
    stop.set()
    thread.join(20)
