"""Callbacks from apimart and apixo, delivered over loopback HTTP to a recording receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.domain.values import TaskState
from orchestrator.sandbox import callbacks
from tests.contract.conftest import (
    CALLBACK_PROVIDERS,
    AdapterFactory,
    Sandbox,
    poll_until_terminal,
    submit_base,
    submit_extend,
)
from tests.eventually import eventually
from tests.loopback import serve_app
from tests.skipped_waits import skip_waits

pytestmark = pytest.mark.asyncio(loop_scope="session")

HOOK = "/hooks/t0k3n"
DELIVERED_PATH = {"apimart": HOOK + "/callback", "apixo": HOOK}
"""apimart appends ``/callback`` to the webhook; apixo posts to the exact URL (D7)."""
RETRY_DELAYS_S = {"apimart": [10.0, 30.0, 60.0], "apixo": [30.0, 120.0, 600.0]}
"""The waits before each retry. Tests that need retries skip the waits (``skip_waits``)
rather than shrink them: a shrunken schedule shrinks the delivery timeout too, and a loaded
machine then turns a slow loopback answer into a failed attempt."""


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    body: bytes


class Receiver:
    """A callback endpoint that records every POST and answers ``answer`` (200 by default)."""

    def __init__(self) -> None:
        self.root = ""
        self.answer = 200
        self.received: list[Received] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            body = await request.body()
            self.received.append(Received(request.url.path, body))
            return Response(status_code=self.answer)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])

    def reset(self) -> None:
        self.answer = 200
        self.received.clear()

    async def arrivals(self, count: int) -> list[Received]:
        """The deliveries once at least ``count`` have arrived."""

        async def enough() -> list[Received] | None:
            return list(self.received) if len(self.received) >= count else None

        return await eventually(enough, what=f"{count} deliveries")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_app(receiver.app()) as root:
        receiver.root = root
        yield receiver


@pytest_asyncio.fixture(loop_scope="session")
async def receiver(receiver_server: Receiver, sandbox: Sandbox) -> AsyncIterator[Receiver]:
    """The shared receiver, emptied; the sandbox (reset after us) has no deliveries pending."""
    receiver_server.reset()
    yield receiver_server
    receiver_server.reset()


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_a_base_callback_reads_like_its_status(
    sandbox: Sandbox, adapter: AdapterFactory, receiver: Receiver, name: str
) -> None:
    """The callback body, parsed by the adapter, equals the polled SUCCEEDED status."""
    provider = adapter(name)
    task = await submit_base(provider, callback_url=receiver.root + HOOK)

    [delivery] = await receiver.arrivals(1)
    assert delivery.path == DELIVERED_PATH[name]
    pushed = provider.parse_callback(delivery.body)
    polled = await provider.status(task)
    assert pushed == polled
    assert pushed.task_id == task.task_id
    assert pushed.state is TaskState.SUCCEEDED
    assert pushed.video_urls
    [attempt] = await sandbox.callbacks(task.task_id)
    assert (attempt["attempt"], attempt["status"]) == (1, 200)


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_an_extend_callback_reads_like_its_status(
    adapter: AdapterFactory, receiver: Receiver, name: str
) -> None:
    """An extend submitted with a callback URL pushes its own SUCCEEDED status there."""
    provider = adapter(name)
    base = await submit_base(provider)
    await poll_until_terminal(provider, base)
    extend = await submit_extend(provider, base, callback_url=receiver.root + HOOK)

    [delivery] = await receiver.arrivals(1)
    assert delivery.path == DELIVERED_PATH[name]
    pushed = provider.parse_callback(delivery.body)
    assert pushed.task_id == extend.task_id
    assert pushed == await provider.status(extend)
    assert pushed.state is TaskState.SUCCEEDED


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_a_failed_task_pushes_its_failure(
    sandbox: Sandbox, adapter: AdapterFactory, receiver: Receiver, name: str
) -> None:
    """A task failed on content policy pushes FAILED with the same code the status reports."""
    await sandbox.configure(content_policy_rate=1)
    provider = adapter(name)
    task = await submit_base(provider, callback_url=receiver.root + HOOK)

    [delivery] = await receiver.arrivals(1)
    pushed = provider.parse_callback(delivery.body)
    assert pushed.state is TaskState.FAILED
    assert pushed.error_code is not None
    assert pushed == await provider.status(task)


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_a_duplicated_callback_arrives_twice(
    sandbox: Sandbox, adapter: AdapterFactory, receiver: Receiver, name: str
) -> None:
    """With duplicate_callback_rate=1 the same body is delivered twice for one task."""
    await sandbox.configure(duplicate_callback_rate=1)
    provider = adapter(name)
    task = await submit_base(provider, callback_url=receiver.root + HOOK)

    first, second = await receiver.arrivals(2)
    assert first.body == second.body
    assert provider.parse_callback(second.body).task_id == task.task_id
    await asyncio.sleep(0.1)
    assert len(receiver.received) == 2
    attempts = await sandbox.callbacks(task.task_id)
    assert [a["duplicate"] for a in attempts] == [False, True]


async def dropped(sandbox: Sandbox, task_id: str) -> list[object] | None:
    attempts = await sandbox.callbacks(task_id)
    return [a for a in attempts if a["attempt"] == 0] or None


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_a_dropped_callback_never_arrives(
    sandbox: Sandbox, adapter: AdapterFactory, receiver: Receiver, name: str
) -> None:
    """With drop_callback_rate=1 nothing is delivered, while the status still says SUCCEEDED."""
    await sandbox.configure(drop_callback_rate=1)
    provider = adapter(name)
    task = await submit_base(provider, callback_url=receiver.root + HOOK)

    await eventually(lambda: dropped(sandbox, task.task_id))
    await asyncio.sleep(0.5)
    assert receiver.received == []
    assert (await provider.status(task)).state is TaskState.SUCCEEDED


@pytest.mark.parametrize("name", CALLBACK_PROVIDERS)
async def test_a_failing_receiver_gets_retries_on_schedule(
    sandbox: Sandbox,
    adapter: AdapterFactory,
    receiver: Receiver,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receiver answering 500 gets the first POST and three retries, each after its delay."""
    skipped = skip_waits(monkeypatch, callbacks)
    receiver.answer = 500
    provider = adapter(name)
    task = await submit_base(provider, callback_url=receiver.root + HOOK)

    deliveries = await receiver.arrivals(4)
    assert skipped.waits == [0, *RETRY_DELAYS_S[name]]  # the task's run time, then the retries
    assert all(d.body == deliveries[0].body for d in deliveries)
    assert provider.parse_callback(deliveries[0].body).task_id == task.task_id
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 4, "no fifth attempt"
    attempts = await sandbox.callbacks(task.task_id)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(n, 500) for n in (1, 2, 3, 4)]


@pytest.mark.parametrize(("name", "posts"), [("apimart", 1), ("apixo", 4)])
async def test_a_4xx_from_the_receiver_stops_only_apimart(
    adapter: AdapterFactory,
    receiver: Receiver,
    name: str,
    posts: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """apimart gives up on a 4xx answer; apixo retries anything but 200."""
    skip_waits(monkeypatch, callbacks)
    receiver.answer = 404
    provider = adapter(name)
    await submit_base(provider, callback_url=receiver.root + HOOK)

    await receiver.arrivals(posts)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == posts
