"""The dashboard mounted on the internal API's app over ASGITransport, on a real SQLite store,
a fake provider and an injected clock; and how a browser signs in and fills forms."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp

from orchestrator.domain.models import Event
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.store import Store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import drive

TOKEN = "ui-test-token-0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Board:
    client: httpx.AsyncClient
    """A browser: no Authorization header, keeps cookies."""
    ops: Operations
    engine: Engine
    clock: Clock
    fake: FakeProvider
    store: Store
    app: ASGIApp
    """The internal listener's app, to serve over loopback where a test needs streaming."""

    async def sign_in(self) -> None:
        page = await self.client.get("/ui/login")
        signed = await self.client.post(
            "/ui/login", data={"csrf": csrf_of(page.text), "token": TOKEN, "next": "/pipelines"}
        )
        assert signed.status_code == 303, signed.text

    async def csrf(self, path: str = "/ui/pipelines") -> str:
        return csrf_of((await self.client.get(path)).text)

    async def run(self, rounds: int = 30) -> None:
        await drive(self.engine, self.clock, rounds)

    async def events(self, pipeline_id: str) -> list[Event]:
        return await self.store.events(pipeline_id)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)
