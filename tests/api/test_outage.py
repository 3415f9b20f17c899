"""The API while the database is away, /readyz, and bodies over the limit.

The store is a real SQLite file; a thin backend wrapper makes it fail the way a full disk or a
lost server does, on demand.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.api.bodies import MAX_BODY
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Backend, Connection, Store, open_backend, open_store
from tests.api.helpers import BODY, TOKEN
from tests.clock import Clock
from tests.fakes import FakeProvider


class FlakyBackend:
    """Delegates to the real backend; fails writes, reads or both while told to."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.shared = inner.shared
        self.fail_writes: BaseException | None = None
        self.fail_reads: BaseException | None = None
        self.writes = 0

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        return self._guard(self._inner.transaction, lambda: self.fail_writes, write=True)

    def reader(self) -> AbstractAsyncContextManager[Connection]:
        return self._guard(self._inner.reader, lambda: self.fail_reads, write=False)

    @asynccontextmanager
    async def _guard(
        self,
        open_: Callable[[], AbstractAsyncContextManager[Connection]],
        failure: Callable[[], BaseException | None],
        *,
        write: bool,
    ) -> AsyncIterator[Connection]:
        async with open_() as conn:
            yield conn
            error = failure()
            if error is not None:
                raise error  # after the work: like a commit, or a read, that fails
            if write:
                self.writes += 1

    async def migrate(self) -> None:
        await self._inner.migrate()

    async def close(self) -> None:
        await self._inner.close()

    def is_transient(self, exc: BaseException) -> bool:
        return self._inner.is_transient(exc)

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        await self._inner.listen(on_notify)


DISK_FULL = sqlite3.OperationalError("database or disk is full")


@pytest.fixture
async def flaky(settings: Settings) -> AsyncIterator[tuple[Store, FlakyBackend]]:
    backend = FlakyBackend(await open_backend(settings.database_url))
    store = Store(backend)
    await store.migrate()
    yield store, backend
    await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def client(
    store: Store, clock: Clock, provider_health: Any = None
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    providers = {"fake": FakeProvider()}
    app = create_api_app(
        Operations(store, providers),
        store,
        api_token=TOKEN,
        provider_health=provider_health,
        clock=clock,
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://api",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def assert_unavailable(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    message: str = error["message"]
    assert "Error" not in message  # no driver class, no traceback
    return message


ROUTES = [
    ("POST", "/v1/pipelines", BODY),
    ("GET", "/v1/pipelines", None),
    ("GET", "/v1/pipelines/pl_x", None),
    ("POST", "/v1/pipelines/pl_x/cancel", None),
    ("POST", "/v1/pipelines/pl_x/retry", None),
    ("GET", "/v1/pipelines/pl_x/events", None),
    ("POST", "/v1/pipelines/pl_x/extends", {"prompt": "more"}),
    ("GET", "/v1/pipelines/pl_x/steps/0/video", None),
    ("POST", "/v1/webhook-endpoints", {"url": "https://hooks.example/x"}),
    ("GET", "/v1/webhook-endpoints", None),
    ("GET", "/v1/webhook-messages", None),
    ("GET", "/v1/webhook-messages/msg_x", None),
]


async def test_every_route_answers_503_while_the_database_is_away(
    flaky: tuple[Store, FlakyBackend], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON 503 with Retry-After on every /v1 route, and one WARNING line for all of them."""
    store, backend = flaky
    backend.fail_writes = backend.fail_reads = DISK_FULL
    async with client(store, clock) as api:
        for method, path, body in ROUTES:
            response = await api.request(method, path, json=body)
            assert assert_unavailable(response).startswith("the database disk is full"), path
        clock.now += 60  # the outage goes on: one more line
        assert_unavailable(await api.get("/v1/pipelines"))
    said = [r for r in caplog.records if r.name == "reelay.api"]
    assert [r.levelno for r in said] == [logging.WARNING] * 2
    assert all(r.exc_info is None for r in said)
    assert f"{len(ROUTES) - 1} more since the last line" in said[1].getMessage()


async def test_a_closed_store_answers_503(settings: Settings, clock: Clock) -> None:
    """A request during shutdown (the store already closed) is a 503, not a 500."""
    store = await open_store(settings.database_url)
    await store.close()
    async with client(store, clock) as api:
        assert assert_unavailable(await api.get("/v1/pipelines")) == (
            "reelay is shutting down; retry in a few seconds"
        )
        assert assert_unavailable(await api.post("/v1/pipelines", json=BODY))
        ready = await api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["detail"]["database"] == "reelay is shutting down"


async def test_a_bug_is_a_json_500(store: Store, clock: Clock) -> None:
    """Anything that is not an outage stays a 500, in the same JSON shape."""

    async def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    async with client(store, clock) as api:
        api_app = api._transport.app  # type: ignore[attr-defined]
        api_app.state.services.operations.list_pipelines = broken
        response = await api.get("/v1/pipelines")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"


async def test_a_create_retried_after_a_lost_acknowledgement_is_one_pipeline(
    flaky: tuple[Store, FlakyBackend], clock: Clock
) -> None:
    """The create commits, then reading it back fails: 503. The client retries with the same
    Idempotency-Key and gets that pipeline; nothing is stored twice."""
    store, backend = flaky
    key = {"Idempotency-Key": "order-42"}
    async with client(store, clock) as api:
        backend.fail_reads = ConnectionResetError("connection reset by peer")
        assert_unavailable(await api.post("/v1/pipelines", json=BODY, headers=key))
        backend.fail_reads = None
        again = await api.post("/v1/pipelines", json=BODY, headers=key)
        listing = await api.get("/v1/pipelines")
    assert again.status_code == 200
    assert [p["id"] for p in listing.json()["items"]] == [again.json()["id"]]


async def test_readyz_fails_when_the_database_takes_no_write(
    flaky: tuple[Store, FlakyBackend], clock: Clock
) -> None:
    """Reads still work, writes don't: /readyz says 503 with a short reason; then ready
    again once writes pass."""
    store, backend = flaky
    async with client(store, clock) as api:
        assert (await api.get("/readyz")).status_code == 200
        backend.fail_writes = DISK_FULL
        clock.now += 2
        down = await api.get("/readyz")
        backend.fail_writes = None
        clock.now += 2
        up = await api.get("/readyz")
    assert down.status_code == 503
    assert int(down.headers["retry-after"]) > 0
    assert down.json()["detail"]["database"] == "the database disk is full"
    assert "Error" not in down.text
    assert up.status_code == 200
    assert up.json()["detail"]["database"] == "ok"


async def test_readyz_probes_are_shared_and_cached(
    flaky: tuple[Store, FlakyBackend], clock: Clock
) -> None:
    """Many probes at once make one write; more within a second make none."""
    store, backend = flaky
    async with client(store, clock) as api:
        answers = await asyncio.gather(*(api.get("/readyz") for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
        assert backend.writes == 1
        await api.get("/readyz")
        assert backend.writes == 1
        clock.now += 1.5
        await api.get("/readyz")
        assert backend.writes == 2


async def test_readyz_while_the_store_is_busy_writing(store: Store, clock: Clock) -> None:
    """Probes beside a stream of writes and reads never fail on a healthy database."""
    async with client(store, clock) as api:

        async def create(n: int) -> int:
            return (await api.post("/v1/pipelines", json={**BODY, "prompt": f"p{n}"})).status_code

        async def probe(_: int) -> int:
            clock.now += 1.1
            return (await api.get("/readyz")).status_code

        results = await asyncio.gather(*(f(n) for n in range(30) for f in (create, probe)))
    assert set(results) <= {200, 201}


async def test_readyz_names_degraded_providers_and_stays_ready(
    store: Store, settings: Settings, clock: Clock
) -> None:
    """A degraded provider is named in detail; reelay itself stays ready (200)."""
    fake = FakeProvider()
    configs = {"fake": ProviderSettings(base_url="http://fake")}
    engine = Engine(store, {"fake": fake}, settings, provider_settings=configs)
    for _ in range(10):
        engine.provider_health.observe("fake", "status", "503", 0.1)
    async with client(store, clock, provider_health=engine.health) as api:
        ready = await api.get("/readyz")
    assert ready.status_code == 200
    degraded = ready.json()["detail"]["degraded_providers"]
    assert list(degraded) == ["fake"]
    assert "HTTP 503" in degraded["fake"][0]
    assert ready.json()["detail"]["providers"]["fake"]["degraded"] is True


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_the_limit_is_413(store: Store, clock: Clock, chunked: bool) -> None:
    """20 MB is refused with 413 and the JSON shape, with or without Content-Length."""
    body = b'{"prompt": "' + b"x" * (20 << 20) + b'"}'

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    async with client(store, clock) as api:
        content: Any = stream() if chunked else body
        response = await api.post("/v1/pipelines", content=content)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert str(MAX_BODY) in response.json()["error"]["message"]
