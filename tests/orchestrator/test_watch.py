"""Following a pipeline (``reelay watch``, ``submit --wait``): to its real end, through restarts."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from orchestrator.api import create_api_app
from orchestrator.cli.client import ApiClient, ApiError, Patience
from orchestrator.cli.progress import watch
from orchestrator.cli.watch import watch_events
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import ExtendSpec, PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.eventually import eventually
from tests.fakes import FakeProvider
from tests.loopback import free_port, serve_app
from tests.proxy import HOST, RoundRobin


@dataclass
class Rig:
    url: str
    ops: Operations
    engine: Engine
    clock: Clock

    async def run(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            self.clock.advance(60)
            await self.engine.run_once()

    async def create(self) -> str:
        body = PipelineRequest.model_validate({"provider": "fake", "prompt": "a"})
        return (await self.ops.create(body))[0].pipeline.id


@pytest.fixture
async def rig(settings: Settings, store: Store) -> AsyncIterator[Rig]:
    clock = Clock()
    fake = FakeProvider()
    ops = Operations(store, {"fake": fake}, clock=clock)
    engine = Engine(
        store,
        {"fake": fake},
        settings,
        clock=clock,
        rng=random.Random(0),
        provider_settings={"fake": ProviderSettings(base_url="http://fake")},
    )
    app = create_api_app(ops, store, api_token=None)
    async with serve_app(app, lifespan="off") as url:
        yield Rig(url, ops, engine, clock)


def quick(err: io.StringIO) -> Patience:
    return Patience(err, first_delay_s=0.05, max_delay_s=0.2)


async def test_watch_after_an_extend_follows_the_new_step(rig: Rig) -> None:
    """On a finished pipeline that was extended, watch goes past the old pipeline.succeeded
    and ends at the new one."""
    pid = await rig.create()
    await rig.run()
    assert (await rig.ops.get(pid)).pipeline.status == "succeeded"
    await rig.ops.add_extend(pid, ExtendSpec.model_validate({"prompt": "b"}))
    out = io.StringIO()
    async with ApiClient(rig.url, None) as client:
        task = asyncio.create_task(watch_events(client, pid, out=out, patience=quick(out)))

        async def caught_up() -> bool:
            return task.done() or "step.added" in out.getvalue()

        await eventually(caught_up, within=30, what="the history replayed", every=0.1)
        assert not task.done(), out.getvalue()
        await rig.run()
        assert await asyncio.wait_for(task, 30) == "succeeded"
    lines = out.getvalue().splitlines()
    assert sum("pipeline.succeeded" in line for line in lines) == 2
    assert "pipeline.succeeded" in lines[-1]
    assert any("step.succeeded" in line and "step 1" in line for line in lines)


@contextlib.asynccontextmanager
async def front(port: int, backend: str) -> AsyncIterator[None]:
    """A TCP front on ``port`` for the API: closing it drops every connection and refuses new
    ones, as a restarting server does."""
    balancer = RoundRobin([int(backend.rsplit(":", 1)[1])])
    server = await asyncio.start_server(balancer.handle, HOST, port)
    try:
        yield
    finally:
        server.close()
        await balancer.aclose()
        await server.wait_closed()


async def test_watch_and_wait_reconnect_after_a_restart(rig: Rig) -> None:
    """While the API is away, watch (the stream) and submit --wait (polling) each say once that
    they are reconnecting, then resume and end when the pipeline does."""
    port = free_port()
    pid = await rig.create()
    out_events, err_events = io.StringIO(), io.StringIO()
    out_wait, err_wait = io.StringIO(), io.StringIO()
    async with ApiClient(f"http://{HOST}:{port}", None) as client:
        async with front(port, rig.url):
            events = asyncio.create_task(
                watch_events(client, pid, out=out_events, patience=quick(err_events))
            )
            waiting = asyncio.create_task(
                watch(client, [pid], out=out_wait, interval=0.05, patience=quick(err_wait))
            )

            async def following() -> bool:
                return "pipeline.created" in out_events.getvalue() and bool(out_wait.getvalue())

            await eventually(following, within=30, what="both following the pipeline", every=0.1)

        async def noticed() -> bool:
            return all("reconnecting" in e.getvalue() for e in (err_events, err_wait))

        await eventually(noticed, within=30, what="both noticing the outage", every=0.1)
        await rig.run()  # the pipeline moves on while they are away
        async with front(port, rig.url):
            assert await asyncio.wait_for(events, 30) == "succeeded"
            [final] = await asyncio.wait_for(waiting, 30)
    assert final["status"] == "succeeded"
    for err in (err_events, err_wait):
        assert err.getvalue().count("\n") == 1
        assert "reconnecting" in err.getvalue()
    assert "pipeline.succeeded" in out_events.getvalue().splitlines()[-1]


async def test_following_gives_up_after_a_while_without_reelay() -> None:
    """With nothing listening, one reconnecting line, then an error after the give-up time
    (an injected clock: no real waiting)."""
    clock = Clock()
    err = io.StringIO()

    async def sleep(delay: float) -> None:
        clock.advance(delay)

    patience = Patience(err, give_up_s=60, clock=clock, sleep=sleep)
    async with ApiClient(f"http://{HOST}:{free_port()}", None) as client:
        with pytest.raises(ApiError, match="gave up after 60 s"):
            await watch_events(client, "pl_x", out=io.StringIO(), patience=patience)
    assert err.getvalue().count("\n") == 1
    assert "reconnecting" in err.getvalue()


async def test_patience_backs_off_to_its_cap_and_starts_over_after_a_success() -> None:
    """Each wait is the shared backoff: doubling from the first delay, capped, jittered down
    to no less than half; a success starts it over (an injected clock and sleep)."""
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    patience = Patience(
        io.StringIO(),
        first_delay_s=1.0,
        max_delay_s=4.0,
        clock=lambda: 0.0,
        sleep=sleep,
        rng=random.Random(3),
    )
    for _ in range(5):
        await patience.wait(ApiError("down"))
    patience.ok()
    await patience.wait(ApiError("down"))
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(slept, ceilings, strict=True)), slept
