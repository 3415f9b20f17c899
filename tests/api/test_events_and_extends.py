"""Extend on demand, the SSE stream and the webhook routes, through the real API."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from orchestrator.webhooks.endpoints import WebhookOperations
from tests.clock import Clock
from tests.eventually import eventually
from tests.fakes import FakeProvider
from tests.loopback import serve_app


@dataclass
class Api:
    client: httpx.AsyncClient
    engine: Engine
    fake: FakeProvider
    clock: Clock

    async def run(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            self.clock.now += 60
            await self.engine.run_once()

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/pipelines", json={"provider": "fake", "prompt": "a", **body}
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def api(settings: Settings, store: Store) -> AsyncIterator[Api]:
    clock = Clock()
    fake = FakeProvider(max_extend_depth=2)
    providers = {"fake": fake}
    engine = Engine(
        store,
        providers,
        settings,
        clock=clock,
        rng=random.Random(0),
        provider_settings={"fake": ProviderSettings(base_url="http://fake")},
    )
    app = create_api_app(
        Operations(store, providers, clock=clock),
        store,
        api_token=None,
        webhooks=WebhookOperations(store, clock=clock),
        webhook_secrets=["whsec_dGVzdA=="],
    )
    async with serve_app(app, lifespan="off") as url, httpx.AsyncClient(base_url=url) as client:
        yield Api(client, engine, fake, clock)


async def test_extend_a_succeeded_pipeline_runs_it_again(api: Api) -> None:
    """An extend added to a succeeded pipeline is submitted from its source and the pipeline
    succeeds again, with step.added and pipeline.running events in between."""
    pid = (await api.create())["id"]
    await api.run()
    assert (await api.client.get(f"/v1/pipelines/{pid}")).json()["status"] == "succeeded"
    added = await api.client.post(f"/v1/pipelines/{pid}/extends", json={"prompt": "more"})
    assert added.status_code == 201
    assert added.json()["status"] == "running"
    assert added.json()["steps"][1]["parent"] == 0
    await api.run()
    final = (await api.client.get(f"/v1/pipelines/{pid}")).json()
    assert final["status"] == "succeeded"
    source = api.fake.tasks[final["steps"][1]["provider_task_id"]].source
    assert source == final["steps"][0]["provider_task_id"]
    types = [
        e["type"] for e in (await api.client.get(f"/v1/pipelines/{pid}/events")).json()["items"]
    ]
    assert types.count("pipeline.succeeded") == 2
    assert "step.added" in types
    assert types.index("step.added") < types.index("pipeline.running", types.index("step.added"))


async def test_extend_branches_from_a_named_step(api: Api) -> None:
    """`from` picks the step to continue."""
    pid = (await api.create(extends=[{"prompt": "b"}]))["id"]
    added = await api.client.post(f"/v1/pipelines/{pid}/extends", json={"prompt": "c", "from": 0})
    assert added.json()["steps"][2]["parent"] == 0


@pytest.mark.parametrize(
    ("setup", "body", "status", "field"),
    [
        ("fresh", {"prompt": "x", "from": 5}, 422, "from"),
        ("fresh", {"prompt": ""}, 422, "prompt"),
        ("fresh", {"prompt": "x", "params": {"aspect_ratio": "4:3"}}, 422, "params.aspect_ratio"),
        ("deep", {"prompt": "x"}, 422, "from"),
        ("failed_source", {"prompt": "x", "from": 0}, 409, None),
        ("expired", {"prompt": "x"}, 422, "from"),
        ("cancelled", {"prompt": "x"}, 409, None),
    ],
)
async def test_extend_refusals(
    api: Api, setup: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    """Extends beyond the depth limit, from a missing, failed or expired source, with bad
    params, or on a cancelled pipeline are refused and add nothing."""
    if setup == "deep":
        pid = (await api.create(extends=[{"prompt": "b"}, {"prompt": "c"}]))["id"]
    elif setup == "failed_source":
        api.fake.fail_prompts.add("a")
        pid = (await api.create())["id"]
        await api.run()
    else:
        pid = (await api.create())["id"]
    if setup == "expired":
        await api.run()
        api.clock.now += 10 * 86_400  # past the result link's expiry
    if setup == "cancelled":
        await api.client.post(f"/v1/pipelines/{pid}/cancel")
    before = len((await api.client.get(f"/v1/pipelines/{pid}")).json()["steps"])
    response = await api.client.post(f"/v1/pipelines/{pid}/extends", json=body)
    assert response.status_code == status, response.text
    if field is not None:
        assert field in {f["field"] for f in response.json()["error"]["fields"]}
    after = len((await api.client.get(f"/v1/pipelines/{pid}")).json()["steps"])
    assert after == before


async def test_extend_unknown_pipeline_is_404(api: Api) -> None:
    """Extending a pipeline that does not exist is 404."""
    response = await api.client.post("/v1/pipelines/pl_nope/extends", json={"prompt": "x"})
    assert response.status_code == 404


async def read_sse(
    client: httpx.AsyncClient,
    url: str,
    count: int,
    headers: dict[str, str] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The first ``count`` events of a stream, appended to ``events`` as they arrive."""
    events = [] if events is None else events
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if "data" in current:
                    events.append({"id": int(current["id"]), **json.loads(current["data"])})
                    if len(events) == count:
                        return events
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return events


async def test_stream_is_live_and_resumable(api: Api) -> None:
    """The stream delivers a pipeline's events as they happen; resuming with Last-Event-ID
    continues after that event without repeating any."""
    pid = (await api.create())["id"]
    url = f"/v1/events/stream?pipeline_id={pid}"
    arrived: list[dict[str, Any]] = []
    reader = asyncio.create_task(read_sse(api.client, url, 4, events=arrived))
    await eventually(lambda: arrived, what="the stream to replay pipeline.created")
    await api.run()  # submitted, running/succeeded, pipeline.succeeded arrive live
    first = await asyncio.wait_for(reader, 30)
    assert first[0]["type"] == "pipeline.created"
    assert [e["seq"] for e in first] == [1, 2, 3, 4]
    resumed = await asyncio.wait_for(
        read_sse(api.client, url, 2, headers={"Last-Event-ID": str(first[1]["id"])}), 30
    )
    assert [e["seq"] for e in resumed] == [3, 4]
    for bad in (b"x", "²".encode("latin-1")):  # "²" passes str.isdigit but is no number
        answer = await api.client.get("/v1/events/stream", headers={b"Last-Event-ID": bad})
        assert answer.status_code == 400
    assert (await api.client.get("/v1/events/stream?pipeline_id=pl_nope")).status_code == 404


async def test_webhook_endpoint_routes(api: Api) -> None:
    """Endpoints: the secret is returned once; filters are validated; enable/disable, rotation
    and deletion work; the pipeline secret is readable."""
    created = await api.client.post(
        "/v1/webhook-endpoints", json={"url": "https://x.example/h", "event_types": ["step.*"]}
    )
    assert created.status_code == 201
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    listed = (await api.client.get("/v1/webhook-endpoints")).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert listed[0]["secret"] is None
    bad = await api.client.post(
        "/v1/webhook-endpoints", json={"url": "https://x.example/h", "event_types": ["nope"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "event_types[0]"
    assert (
        await api.client.post("/v1/webhook-endpoints", json={"url": "ftp://x"})
    ).status_code == 422
    patched = await api.client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}
    )
    assert patched.json()["enabled"] is False
    rotated = await api.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.json()["secret"] not in (None, endpoint["secret"])
    assert (await api.client.get("/v1/webhook-secret")).json() == {"secrets": ["whsec_dGVzdA=="]}
    assert (await api.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}")).status_code == 204
    assert (await api.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).status_code == 404


async def test_message_routes(api: Api) -> None:
    """Messages are listed per pipeline, shown with their attempts, and redelivered."""
    pid = (await api.create(webhook_url="https://x.example/h"))["id"]
    page = (await api.client.get("/v1/webhook-messages", params={"pipeline_id": pid})).json()
    [message] = page["items"]
    assert message["type"] == "pipeline.created"
    shown = (await api.client.get(f"/v1/webhook-messages/{message['id']}")).json()
    assert shown["attempts_log"] == []
    not_yet = await api.client.post(f"/v1/webhook-messages/{message['id']}/redeliver")
    assert not_yet.status_code == 409
    bulk = await api.client.post("/v1/webhook-messages/redeliver", json={"since": 0})
    assert bulk.json() == {"redelivered": 0}
    assert (await api.client.get("/v1/webhook-messages", params={"status": "x"})).status_code == 400


async def test_webhook_endpoint_on_a_private_address_is_refused(api: Api, store: Store) -> None:
    """Registering (or moving) an endpoint to loopback is 422 naming url and the setting; a
    public http:// URL is accepted; with REELAY_WEBHOOK_ALLOW_PRIVATE loopback is accepted."""
    for url in ("http://127.0.0.1:8080/h", "https://localhost/h", "https://10.1.2.3/h"):
        refused = await api.client.post("/v1/webhook-endpoints", json={"url": url})
        assert refused.status_code == 422, url
        [field] = refused.json()["error"]["fields"]
        assert field["field"] == "url"
        assert "REELAY_WEBHOOK_ALLOW_PRIVATE" in field["message"]
    created = await api.client.post("/v1/webhook-endpoints", json={"url": "http://x.example/h"})
    assert created.status_code == 201
    moved = await api.client.patch(
        f"/v1/webhook-endpoints/{created.json()['id']}", json={"url": "http://127.0.0.1/h"}
    )
    assert moved.status_code == 422
    assert moved.json()["error"]["fields"][0]["field"] == "url"
    lenient = WebhookOperations(store, allow_private=True)
    endpoint, _ = await lenient.create("http://127.0.0.1:8080/h", [], "", True)
    assert endpoint.url == "http://127.0.0.1:8080/h"
