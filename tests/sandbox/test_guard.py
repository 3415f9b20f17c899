"""Bearer-key checks and injected request faults, in each provider's own error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from orchestrator.sandbox import SandboxConfig, create_sandbox_app, guard
from tests.clock import Clock
from tests.sandbox.conftest import Configure, client_for
from tests.skipped_waits import skip_waits

SUBMITS: dict[str, tuple[str, dict[str, Any]]] = {
    "apimart": ("/apimart/v1/videos/generations", {"model": "veo3.1-fast", "prompt": "p"}),
    "octopusx": ("/octopusx/v1/videos", {"model": "veo_3_1", "prompt": "p"}),
    "apixo": (
        "/apixo/api/v1/generateTask/veo-3-1",
        {"input": {"mode": "fast", "prompt": "p", "generationType": "TEXT_2_VIDEO"}},
    ),
    "apifree": ("/apifree/v1/videos", {"model": "m", "prompt": "p"}),
}
PROVIDERS = list(SUBMITS)
BALANCE_MESSAGE = "Insufficient balance. Please top up your account"
OPENAI_NO_BALANCE = {
    "error": {
        "message": BALANCE_MESSAGE,
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
NO_BALANCE: dict[str, dict[str, Any]] = {
    "apimart": {"error": {"code": 402, "message": BALANCE_MESSAGE, "type": "payment_required"}},
    "octopusx": OPENAI_NO_BALANCE,
    "apixo": {"code": 402, "message": BALANCE_MESSAGE, "data": None},
    "apifree": OPENAI_NO_BALANCE,
}


def assert_error(provider: str, response: httpx.Response, status: int, kind: str = "") -> None:
    """The response is ``status`` in ``provider``'s documented error body."""
    assert response.status_code == status
    body = response.json()
    if provider == "apimart":
        assert body["error"]["code"] == status
        assert not kind or body["error"]["type"] == kind
    elif provider == "apixo":
        assert (body["code"], body["data"]) == (status, None)
        assert body["message"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}


async def submit(client: httpx.AsyncClient, provider: str, **headers: str) -> httpx.Response:
    path, body = SUBMITS[provider]
    return await client.post(path, json=body, headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("header", ["", "Bearer ", "Basic dXNlcg==", "test-key"])
async def test_missing_or_malformed_key_is_401(
    sandbox: httpx.AsyncClient, provider: str, header: str
) -> None:
    """Without ``Bearer <key>`` every provider answers 401 in its own shape."""
    response = await submit(sandbox, provider, authorization=header)
    assert_error(provider, response, 401, "authentication_error")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_configured_key_must_match(clock: Clock, provider: str) -> None:
    """With ``api_key`` set, only that key is accepted."""
    app: Starlette = create_sandbox_app(SandboxConfig(api_key="s3cret"), clock=clock)
    async with client_for(app, authorization="Bearer s3cret") as client:
        assert (await submit(client, provider)).status_code == 200
        wrong = await submit(client, provider, authorization="Bearer other")
        assert_error(provider, wrong, 401)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limit_fault(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """rate_429 answers 429 with Retry-After in the provider's shape."""
    await configure(rate_429=1.0, retry_after_s=7)
    response = await submit(sandbox, provider)
    assert_error(provider, response, 429, "rate_limit_error")
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_server_error_fault(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """rate_5xx answers one of the provider's documented 5xx statuses."""
    await configure(rate_5xx=1.0)
    for _ in range(5):
        response = await submit(sandbox, provider)
        assert response.status_code in (500, 502, 503)
        assert_error(provider, response, response.status_code)


async def test_faults_hit_status_requests(sandbox: httpx.AsyncClient, configure: Configure) -> None:
    """Status polls meet injected faults too."""
    video_id = (await submit(sandbox, "octopusx")).json()["id"]
    await configure(rate_429=1.0)
    assert (await sandbox.get(f"/octopusx/v1/videos/{video_id}")).status_code == 429


async def test_faults_spare_media_content_and_inspection(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """Result links, ``/content`` and ``/_sandbox`` routes never meet injected faults."""
    video_id = (await submit(sandbox, "octopusx")).json()["id"]
    clock.advance(10)
    url = (await sandbox.get(f"/octopusx/v1/videos/{video_id}")).json()["video_url"]
    await configure(rate_429=0.5, rate_5xx=1.0)
    for path in (url, f"/octopusx/v1/videos/{video_id}/content", "/_sandbox/tasks"):
        assert (await sandbox.get(path)).status_code == 200


async def test_slow_fault_delays_the_answer(
    sandbox: httpx.AsyncClient, configure: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slow_rate holds the answer back ``slow_seconds`` before answering normally."""
    skipped = skip_waits(monkeypatch, guard)
    await configure(slow_rate=1.0, slow_seconds=7)
    response = await submit(sandbox, "apifree")
    assert response.status_code == 200
    assert skipped.waits == [7]


async def test_seeded_faults_repeat(sandbox: httpx.AsyncClient, configure: Configure) -> None:
    """The same seed gives the same sequence of faults."""
    runs = []
    for _ in range(2):
        await configure(seed=11, rate_429=0.5)
        runs.append([(await submit(sandbox, "apimart")).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 429}


def task_id_of(provider: str, response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    found: str
    if provider == "apimart":
        found = body["data"][0]["task_id"]
    elif provider == "apixo":
        found = body["data"]["taskId"]
    else:
        found = body["id"]
    return found


async def poll(client: httpx.AsyncClient, provider: str, task_id: str) -> httpx.Response:
    if provider == "apimart":
        return await client.get(f"/apimart/v1/tasks/{task_id}")
    if provider == "apixo":
        return await client.get("/apixo/api/v1/statusTask/veo-3-1", params={"taskId": task_id})
    return await client.get(f"/{provider}/v1/videos/{task_id}")


async def extend(client: httpx.AsyncClient, provider: str, source: str) -> httpx.Response:
    if provider == "apixo":
        body = {"input": {"taskId": source, "prompt": "more"}}
        return await client.post("/apixo/api/v1/generateTask/veo-3-1-extend", json=body)
    model = {"apimart": "veo3.1-fast", "octopusx": "veo_3_1-extend", "apifree": "m"}[provider]
    path = f"/{provider}/v1/videos/{source}/remix"
    return await client.post(path, json={"model": model, "prompt": "more"})


async def task_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/_sandbox/tasks")).json())


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("fault", "status"), [("out_of_balance", 402), ("rate_limited", 429)])
async def test_listed_provider_refuses_submits_until_told_otherwise(
    sandbox: httpx.AsyncClient,
    clock: Clock,
    configure: Configure,
    provider: str,
    fault: str,
    status: int,
) -> None:
    """A listed provider refuses every generate and extend, creating no task, while its status
    polls still answer and other providers still accept; an empty list ends it."""
    source = task_id_of(provider, await submit(sandbox, provider))
    clock.advance(10)
    await configure(**{fault: [provider]}, retry_after_s=7)
    for _ in range(3):
        for response in (await submit(sandbox, provider), await extend(sandbox, provider, source)):
            assert_error(provider, response, status)
            if status == 429:
                assert response.headers["retry-after"] == "7"
    assert await task_count(sandbox) == 1
    assert (await poll(sandbox, provider, source)).status_code == 200
    other = next(name for name in PROVIDERS if name != provider)
    assert (await submit(sandbox, other)).status_code == 200
    await configure(**{fault: []})
    assert (await submit(sandbox, provider)).status_code == 200
    assert (await extend(sandbox, provider, source)).status_code == 200
    assert await task_count(sandbox) == 4


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_out_of_balance_answer(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """The 402 is the provider's error body saying the balance is insufficient."""
    await configure(out_of_balance=[provider])
    response = await submit(sandbox, provider)
    assert (response.status_code, response.json()) == (402, NO_BALANCE[provider])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limited_answer(
    sandbox: httpx.AsyncClient, configure: Configure, provider: str
) -> None:
    """The 429 storm answers like an injected 429: the provider's shape and Retry-After."""
    await configure(rate_limited=[provider], retry_after_s=3)
    response = await submit(sandbox, provider)
    assert_error(provider, response, 429, "rate_limit_error")
    assert response.headers["retry-after"] == "3"


async def test_the_key_is_checked_before_the_provider_faults(
    sandbox: httpx.AsyncClient, configure: Configure
) -> None:
    """A submit with a bad key is 401, not 402 or 429."""
    await configure(out_of_balance=PROVIDERS, rate_limited=PROVIDERS)
    for provider in PROVIDERS:
        assert_error(provider, await submit(sandbox, provider, authorization="Basic x"), 401)


async def test_a_rate_limited_provider_out_of_balance_answers_429(
    sandbox: httpx.AsyncClient, configure: Configure
) -> None:
    """Listed in both, a provider rate-limits before it checks the balance."""
    await configure(out_of_balance=["apixo"], rate_limited=["apixo"])
    assert (await submit(sandbox, "apixo")).status_code == 429
