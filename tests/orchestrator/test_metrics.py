"""GET /metrics on the internal API: a real SQLite store, the engine, the receiver, an adapter."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from orchestrator.api import create_api_app
from orchestrator.domain.artifacts import Artifact
from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.domain.values import TaskRef
from orchestrator.domain.webhooks import Attempt, Message, MessageStatus
from orchestrator.engine import Engine
from orchestrator.intake import CallbackInbox
from orchestrator.metrics import Metrics
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.base import GenerateRequest
from orchestrator.providers.config import ApixoSettings, ProviderSettings
from orchestrator.providers.errors import ProviderUnavailable, RequestNotSent
from orchestrator.settings import Settings
from orchestrator.store import Store, Transaction
from receiver.app import create_receiver_app
from receiver.tokens import CallbackTokens
from tests.clock import Clock
from tests.fakes import FakeProvider

Labels = tuple[tuple[str, str], ...]


async def scrape(api: httpx.AsyncClient) -> dict[tuple[str, Labels], float]:
    """Every sample of ``/metrics``, parsed by prometheus_client, keyed by name and labels."""
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def engine_for(settings: Settings, store: Store, fake: FakeProvider, clock: Clock) -> Engine:
    return Engine(
        store,
        {fake.name: fake},
        settings,
        clock=clock,
        rng=random.Random(0),
        provider_settings={fake.name: ProviderSettings(base_url="http://fake")},
    )


@pytest.fixture
def metrics(store: Store) -> Metrics:
    return Metrics(store, ["fake"])


@pytest.fixture
async def api(
    store: Store, fake: FakeProvider, metrics: Metrics
) -> AsyncIterator[httpx.AsyncClient]:
    ops = Operations(store, {"fake": fake})
    app = create_api_app(ops, store, api_token="api-secret", metrics=metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        yield client


async def test_metrics_need_no_token_unlike_v1(api: httpx.AsyncClient) -> None:
    """A scraper without the API token reads /metrics; /v1 still refuses it."""
    assert (await api.get("/v1/pipelines")).status_code == 401
    samples = await scrape(api)
    assert samples[("reelay_store_up", ())] == 1
    assert samples[("reelay_steps", (("status", "pending"),))] == 0
    assert samples[("reelay_tasks_in_flight", (("provider", "fake"),))] == 0
    assert samples[("reelay_artifacts", ())] == 0


async def test_steps_polls_and_tasks_in_flight_follow_a_pipeline(
    settings: Settings, store: Store, api: httpx.AsyncClient
) -> None:
    """Creating, submitting and finishing a three-step pipeline moves every store-read metric."""
    clock = Clock()
    fake = FakeProvider(polls_to_finish=3)
    engine = engine_for(settings, store, fake, clock)
    ops = Operations(store, {"fake": fake}, clock=clock)
    request = {"provider": "fake", "prompt": "a", "extends": [{"prompt": "b"}, {"prompt": "c"}]}
    await ops.create(PipelineRequest.model_validate(request))
    created = await scrape(api)
    assert created[("reelay_pipelines", (("status", "pending"),))] == 1
    assert created[("reelay_steps", (("status", "pending"),))] == 3
    assert created[("reelay_polls_total", (("provider", "fake"),))] == 0

    await engine.run_once()
    submitted = await scrape(api)
    assert submitted[("reelay_tasks_in_flight", (("provider", "fake"),))] == 1
    assert submitted[("reelay_steps", (("status", "pending"),))] == 2

    for _ in range(30):
        clock.now += 120
        await engine.run_once()
    done = await scrape(api)
    assert done[("reelay_pipelines", (("status", "succeeded"),))] == 1
    assert done[("reelay_pipelines", (("status", "pending"),))] == 0
    assert done[("reelay_steps", (("status", "succeeded"),))] == 3
    assert done[("reelay_steps", (("status", "pending"),))] == 0
    assert done[("reelay_tasks_in_flight", (("provider", "fake"),))] == 0
    polls = sum(task.polls for task in fake.tasks.values())
    assert polls >= 9
    assert done[("reelay_polls_total", (("provider", "fake"),))] == polls


async def test_deliveries_by_result_and_artifact_bytes(
    store: Store, api: httpx.AsyncClient
) -> None:
    """Webhook attempts are counted by result class; kept artifacts by number and bytes."""
    message = Message(
        id="msg_1",
        destination="pipeline",
        url="https://hooks.example/in",
        pipeline_id="pl_1",
        seq=1,
        type="pipeline.succeeded",
        payload="{}",
        status=MessageStatus.PENDING,
        attempts=0,
        created_at=1.0,
    )
    results: list[tuple[int | None, str | None]] = [(200, None), (204, None), (302, None)]
    results += [(404, None), (503, None)]
    results += [(None, "timeout after 15 s"), (None, "refused: 10.0.0.1 is a private address")]
    attempts = [Attempt(0, "msg_1", 2.0, code, "", 1.0, error) for code, error in results]

    async def write(tx: Transaction) -> None:
        await tx.webhooks.insert_messages([message])
        await tx.webhooks.insert_attempts(attempts)
        await tx.artifacts.insert_artifact(Artifact("a" * 64, 1000, "video/mp4", "aa/a"), 3.0)
        await tx.artifacts.insert_artifact(Artifact("b" * 64, 234, "video/mp4", "bb/b"), 3.0)

    await store.run(write)
    samples = await scrape(api)
    by_result = {
        dict(labels)["result"]: value
        for (name, labels), value in samples.items()
        if name == "reelay_webhook_deliveries_total"
    }
    assert by_result == {"2xx": 2, "redirect": 1, "4xx": 1, "5xx": 1, "error": 1, "refused": 1}
    assert samples[("reelay_artifacts", ())] == 2
    assert samples[("reelay_artifact_bytes", ())] == 1234


async def test_callbacks_accepted_and_rejected_are_counted(
    settings: Settings, store: Store, metrics: Metrics, api: httpx.AsyncClient
) -> None:
    """The receiver's verdicts move the callback counters; an unknown provider is 'unknown'."""
    clock = Clock()
    fake = FakeProvider(callbacks=True, polls_to_finish=100)
    engine = engine_for(settings, store, fake, clock)
    ops = Operations(store, {"fake": fake}, clock=clock)
    view, _ = await ops.create(PipelineRequest.model_validate({"provider": "fake", "prompt": "a"}))
    await engine.run_once()
    task = (await ops.get(view.pipeline.id)).steps[0].provider_task_id
    tokens = CallbackTokens(["cb-secret"], max_age_s=3600, clock=clock)
    inbox = CallbackInbox(store, clock=clock)
    receiver = create_receiver_app(
        inbox,
        tokens,
        {"fake": fake.parse_callback},
        on_reject=metrics.callback_rejected,
        on_accept=metrics.callback_accepted,
    )
    url = "/callbacks/fake/" + tokens.mint(CallbackTarget(view.pipeline.id, 0, "fake"))
    before = await scrape(api)
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://public") as public:
        assert (await public.post(url, json={"task_id": task, "state": "running"})).is_success
        assert (await public.post(url, json={"task_id": task, "state": "running"})).is_success
        assert (await public.post("/callbacks/fake/forged", json={})).status_code == 401
        assert (await public.post(url, content=b"{}")).status_code == 415
        assert (await public.post("/callbacks/evil-1/x", json={})).status_code == 404
    await inbox.close()
    after = await scrape(api)
    accepted = ("reelay_callbacks_accepted_total", (("provider", "fake"),))
    assert before[accepted] == 0
    assert after[accepted] == 2

    def rejected(provider: str, reason: str) -> float:
        labels = (("provider", provider), ("reason", reason))
        return after[("reelay_callbacks_rejected_total", labels)]

    assert rejected("fake", "bad_token") == 1
    assert rejected("fake", "content_type") == 1
    assert rejected("unknown", "unknown_provider") == 1
    assert not any("evil" in str(labels) for _, labels in after)


async def test_provider_latency_is_observed_by_operation_and_status(
    metrics: Metrics, api: httpx.AsyncClient
) -> None:
    """Each adapter request lands in the histogram under its operation and HTTP status (or the
    transport error's class when no answer came)."""
    replies: list[httpx.Response | Exception] = [
        httpx.Response(200, json={"code": 200, "data": {"taskId": "task_1"}}),
        httpx.Response(503, json={"code": 503, "message": "busy"}),
        httpx.ConnectError("no route"),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    settings = ApixoSettings(api_key=SecretStr("sk-test"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        provider = ApixoProvider(
            settings, client, clock=lambda: 0.0, observe=metrics.provider_request
        )
        assert await provider.generate(GenerateRequest("a fox", "fast")) == "task_1"
        with pytest.raises(ProviderUnavailable):
            await provider.status(TaskRef("task_1", "generate", "fast"))
        with pytest.raises(RequestNotSent):
            await provider.status(TaskRef("task_1", "generate", "fast"))
    samples = await scrape(api)

    def count(operation: str, status: str) -> float:
        labels = (("operation", operation), ("provider", "apixo"), ("status", status))
        return samples[("reelay_provider_request_seconds_count", labels)]

    assert count("generate", "200") == 1
    assert count("status", "503") == 1
    assert count("status", "ConnectError") == 1
    inf = (("le", "+Inf"), ("operation", "generate"), ("provider", "apixo"), ("status", "200"))
    assert samples[("reelay_provider_request_seconds_bucket", inf)] == 1


async def test_without_an_observer_adapters_are_not_measured(
    metrics: Metrics, api: httpx.AsyncClient
) -> None:
    """An adapter built without an observer (as outside the runtime) measures nothing."""
    answer = httpx.Response(200, json={"code": 200, "data": {"taskId": "task_1"}})
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: answer)) as client:
        provider = ApixoProvider(ApixoSettings(api_key=SecretStr("sk-test")), client)
        await provider.generate(GenerateRequest("a fox", "fast"))
    samples = await scrape(api)
    assert not any(name.startswith("reelay_provider_request") for name, _ in samples)


async def test_registries_are_per_instance(store: Store) -> None:
    """Two Metrics in one process count apart and never touch the global registry."""
    first, second = Metrics(store, ["fake"]), Metrics(store, ["fake"])
    first.callback_accepted("fake")
    assert b'reelay_callbacks_accepted_total{provider="fake"} 1.0' in await first.render()
    assert b'reelay_callbacks_accepted_total{provider="fake"} 0.0' in await second.render()
