"""Callback delivery: URLs, bodies equal to the status response, retry schedules, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from orchestrator.sandbox import SandboxConfig, callbacks, create_sandbox_app
from tests.clock import Clock
from tests.eventually import eventually
from tests.sandbox.conftest import Receiver, client_for, serving
from tests.skipped_waits import skip_waits

SCALE = 0.001
APIXO_INPUT = {"mode": "fast", "prompt": "p", "generationType": "TEXT_2_VIDEO"}


def sandbox_app(receiver: Receiver, clock: Clock, **config: Any) -> Starlette:
    settings = SandboxConfig(**({"task_seconds": 0, "time_scale": SCALE, "seed": 1} | config))
    return create_sandbox_app(settings, callback_client=receiver.client(), clock=clock)


async def apimart_submit(client: httpx.AsyncClient, webhook: str) -> str:
    body = {"model": "veo3.1-fast", "prompt": "p", "webhook": webhook}
    response = await client.post("/apimart/v1/videos/generations", json=body)
    task_id: str = response.json()["data"][0]["task_id"]
    return task_id


async def apixo_submit(client: httpx.AsyncClient, callback_url: str) -> str:
    body = {"request_type": "callback", "callback_url": callback_url, "input": APIXO_INPUT}
    response = await client.post("/apixo/api/v1/generateTask/veo-3-1", json=body)
    task_id: str = response.json()["data"]["taskId"]
    return task_id


async def attempts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await client.get("/_sandbox/callbacks")).json()
    return result


async def logged_attempts(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The attempt log once it holds ``count`` entries."""

    async def enough() -> list[dict[str, Any]] | None:
        log = await attempts(client)
        return log if len(log) >= count else None

    return await eventually(enough, what=f"{count} callback attempts in the log")


@pytest.mark.parametrize(
    ("webhook", "delivered_to"),
    [
        ("http://hooks.test", "http://hooks.test/callback"),
        ("http://hooks.test/api/", "http://hooks.test/api/callback"),
        ("http://hooks.test/in/tok?x=1", "http://hooks.test/in/tok/callback?x=1"),
    ],
)
async def test_apimart_posts_the_status_body_to_webhook_callback(
    clock: Clock, webhook: str, delivered_to: str
) -> None:
    """apimart POSTs the terminal status body to the webhook URL + ``/callback``."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock)) as client:
        task_id = await apimart_submit(client, webhook)
        await eventually(lambda: len(receiver.requests) == 1)
        [request] = receiver.requests
        assert (request.method, str(request.url)) == ("POST", delivered_to)
        status = (await client.get(f"/apimart/v1/tasks/{task_id}")).json()
        assert json.loads(request.content) == status
        assert status["data"]["status"] == "completed"


async def test_apixo_posts_to_the_exact_url(clock: Clock) -> None:
    """apixo POSTs the status body, ``resultJson`` string included, to exactly ``callback_url``."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock)) as client:
        task_id = await apixo_submit(client, "http://hooks.test/apixo/t0k")
        await eventually(lambda: len(receiver.requests) == 1)
        [request] = receiver.requests
        assert str(request.url) == "http://hooks.test/apixo/t0k"
        status = await client.get("/apixo/api/v1/statusTask/veo-3-1", params={"taskId": task_id})
        assert json.loads(request.content) == status.json()
        assert isinstance(json.loads(request.content)["data"]["resultJson"], str)


async def test_failed_task_is_pushed_too(clock: Clock) -> None:
    """A task failing on content policy is pushed with its failed status."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock, content_policy_rate=1.0)) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        await eventually(lambda: len(receiver.requests) == 1)
        data = json.loads(receiver.requests[0].content)["data"]
        assert (data["state"], data["failCode"]) == ("failed", "CONTENT_VIOLATION")


async def test_callback_waits_for_the_task_to_finish(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callback goes out once the task's run time has passed, not at submit."""
    skipped = skip_waits(monkeypatch, callbacks)
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock, task_seconds=90)) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        await eventually(lambda: len(receiver.requests) == 1)
    assert skipped.waits == [90]


async def test_apimart_retries_5xx_on_its_schedule(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5xx answers are retried after 10, 30 and 60 s (scaled), then delivery stops."""
    skipped = skip_waits(monkeypatch, callbacks)
    receiver = Receiver(500, 502, 503, 500)
    async with serving(sandbox_app(receiver, clock)) as client:
        await apimart_submit(client, "http://hooks.test")
        await eventually(lambda: len(receiver.requests) == 4)
        assert skipped.waits == pytest.approx([0, 10 * SCALE, 30 * SCALE, 60 * SCALE])
        log = await logged_attempts(client, 4)
        assert [a["attempt"] for a in log] == [1, 2, 3, 4]
        assert [a["status"] for a in log] == [500, 502, 503, 500]


async def test_apimart_stops_on_4xx(clock: Clock) -> None:
    """A 4xx answer ends apimart's delivery with no retry."""
    receiver = Receiver(404)
    async with serving(sandbox_app(receiver, clock)) as client:
        await apimart_submit(client, "http://hooks.test")
        await eventually(lambda: len(receiver.requests) == 1)
        assert [a["status"] for a in await logged_attempts(client, 1)] == [404]
    assert len(receiver.requests) == 1


async def test_apimart_retries_a_timeout(clock: Clock) -> None:
    """A receiver slower than the (scaled) 10 s timeout counts as a failed attempt."""
    receiver = Receiver(delay=0.05)
    async with serving(sandbox_app(receiver, clock)) as client:
        await apimart_submit(client, "http://hooks.test")
        await eventually(lambda: len(receiver.requests) == 2)
        first = (await logged_attempts(client, 1))[0]
        assert (first["status"], first["error"]) == (None, "timeout")


async def test_apixo_retries_until_200(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """apixo needs exactly 200: other answers, 4xx included, are retried after 30, 120 and
    600 s (scaled)."""
    skipped = skip_waits(monkeypatch, callbacks)
    receiver = Receiver(404, 204, 500, 200)
    async with serving(sandbox_app(receiver, clock)) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        await eventually(lambda: len(receiver.requests) == 4)
        assert skipped.waits == pytest.approx([0, 30 * SCALE, 120 * SCALE, 600 * SCALE])
        assert [a["status"] for a in await logged_attempts(client, 4)] == [404, 204, 500, 200]


async def test_duplicate_callback_is_delivered_twice(clock: Clock) -> None:
    """duplicate_callback_rate delivers the same body a second time."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock, duplicate_callback_rate=1.0)) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        await eventually(lambda: len(receiver.requests) == 2)
        first, second = receiver.requests
        assert first.content == second.content
        assert [a["duplicate"] for a in await logged_attempts(client, 2)] == [False, True]


async def test_dropped_callback_is_never_delivered(clock: Clock) -> None:
    """drop_callback_rate skips the delivery and says so in the attempt log."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock, drop_callback_rate=1.0)) as client:
        task_id = await apimart_submit(client, "http://hooks.test")
        log = await logged_attempts(client, 1)
        assert [(a["task_id"], a["attempt"], a["status"]) for a in log] == [(task_id, 0, None)]
    assert receiver.requests == []


async def test_no_callback_without_the_callback_fields(clock: Clock) -> None:
    """apixo async requests and apimart submits without ``webhook`` are never pushed."""
    receiver = Receiver()
    async with serving(sandbox_app(receiver, clock)) as client:
        body = {"request_type": "async", "callback_url": "http://x.test", "input": APIXO_INPUT}
        await client.post("/apixo/api/v1/generateTask/veo-3-1", json=body)
        await client.post(
            "/apimart/v1/videos/generations", json={"model": "veo3.1-fast", "prompt": "p"}
        )
        tasks = (await client.get("/_sandbox/tasks")).json()
        assert [t["callback_url"] for t in tasks] == [None, None]
    assert receiver.requests == []


async def test_shutdown_cancels_pending_deliveries(clock: Clock) -> None:
    """Leaving the lifespan cancels deliveries still waiting for their task."""
    receiver = Receiver()
    app = sandbox_app(receiver, clock, task_seconds=60)
    async with serving(app) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        assert app.state.sandbox.callbacks.pending == 1
    assert app.state.sandbox.callbacks.pending == 0
    assert receiver.requests == []


async def test_callbacks_need_the_lifespan(clock: Clock) -> None:
    """Without a running lifespan the attempt is logged as an error instead of leaking a task."""
    receiver = Receiver()
    async with client_for(sandbox_app(receiver, clock)) as client:
        await apixo_submit(client, "http://hooks.test/cb")
        [attempt] = await attempts(client)
        assert attempt["error"] == "sandbox lifespan is not running"
