"""``board``: the dashboard with an API token, a signed-out browser, the engine to run steps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.settings import Settings
from orchestrator.store import Store
from orchestrator.ui import Dashboard, dashboard_mount
from orchestrator.ui.session import Sessions
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import rig
from tests.ui.helpers import TOKEN, Board


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
