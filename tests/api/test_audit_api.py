"""Audited actions through the API: the named tokens are the actors, the reasons come in the
optional bodies of cancel and retry and in the extend body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.api.helpers import BODY, TOKEN
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import drive, fake_engine

CI = "ci-token-0123456789abcdef"
ALICE = "alice-token-0123456789abc"
TOKENS = {"api": TOKEN, "ci": CI, "alice": ALICE}


def _client(app: Starlette, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(fail_prompts={"storm"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ops(store: Store, fake: FakeProvider, clock: Clock) -> Operations:
    return Operations(store, {"fake": fake}, clock=clock)


@pytest.fixture
def app(ops: Operations, store: Store) -> Starlette:
    """The API with REELAY_API_TOKEN (``api``) and two named tokens."""
    return create_api_app(ops, store, api_token=TOKEN, api_tokens={"ci": CI, "alice": ALICE})


async def _audits(client: httpx.AsyncClient, pid: str) -> list[tuple[str, str, str | None]]:
    events = (await client.get(f"/v1/pipelines/{pid}/events")).json()["items"]
    return [
        (e["type"], e["data"]["actor"], e["data"]["reason"])
        for e in events
        if e["type"].startswith("action.")
    ]


async def _create(client: httpx.AsyncClient, **body: Any) -> str:
    created = await client.post("/v1/pipelines", json={**BODY, **body})
    assert created.status_code == 201, created.text
    pid: str = created.json()["id"]
    return pid


@pytest.mark.parametrize("name", ["api", "ci", "alice"])
async def test_each_token_is_its_own_actor(app: Starlette, name: str) -> None:
    """Whichever token a request carries, its name is the actor of what it does."""
    async with _client(app, TOKENS[name]) as client:
        pid = await _create(client)
        extended = await client.post(f"/v1/pipelines/{pid}/extends", json={"prompt": "more"})
        assert extended.status_code == 201, extended.text
        assert (await client.post(f"/v1/pipelines/{pid}/cancel")).status_code == 200
        assert await _audits(client, pid) == [
            ("action.created", name, None),
            ("action.extended", name, None),
            ("action.cancelled", name, None),
        ]


async def test_without_tokens_the_actor_is_anonymous(ops: Operations, store: Store) -> None:
    """With no token configured every route is open, and everyone is ``anonymous``."""
    async with _client(create_api_app(ops, store, api_token=None)) as client:
        pid = await _create(client)
        assert (await client.post(f"/v1/pipelines/{pid}/cancel")).status_code == 200
        assert await _audits(client, pid) == [
            ("action.created", "anonymous", None),
            ("action.cancelled", "anonymous", None),
        ]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Bearer {CI}x", f"Basic {CI}", "Bearer "],
)
async def test_a_wrong_token_is_401_and_changes_nothing(
    app: Starlette, authorization: str | None
) -> None:
    """A request without one of the tokens is refused before it acts, and the answer does not
    repeat what it was given."""
    async with _client(app, CI) as client:
        pid = await _create(client)
        headers = {"Authorization": authorization} if authorization else {}
        async with _client(app) as stranger:
            refused = await stranger.post(f"/v1/pipelines/{pid}/cancel", headers=headers)
        assert refused.status_code == 401
        given = (authorization or "").partition(" ")[2]
        assert CI not in refused.text
        assert not given or given not in refused.text
        assert (await client.get(f"/v1/pipelines/{pid}")).json()["status"] == "pending"
        assert await _audits(client, pid) == [("action.created", "ci", None)]


async def test_reasons_are_kept_trimmed(
    app: Starlette, settings: Settings, store: Store, fake: FakeProvider, clock: Clock
) -> None:
    """cancel, retry and extend keep their body's reason trimmed; blank or no body is none;
    the extend's reason is the audit event's, not part of the step."""
    async with _client(app, ALICE) as client:
        pid = await _create(client, prompt="storm", extends=[])
        await drive(fake_engine(store, fake, settings, clock, "r1"), clock, 3)
        assert (await client.get(f"/v1/pipelines/{pid}")).json()["status"] == "failed"
        fake.fail_prompts.clear()
        retried = await client.post(f"/v1/pipelines/{pid}/retry", json={"reason": " back up "})
        assert retried.status_code == 200, retried.text
        extended = await client.post(
            f"/v1/pipelines/{pid}/extends", json={"prompt": "more", "from": 0, "reason": "  "}
        )
        assert extended.status_code == 201, extended.text
        assert "reason" not in extended.json()["steps"][-1]
        cancelled = await client.post(
            f"/v1/pipelines/{pid}/cancel", json={"reason": "\tnot needed\n"}
        )
        assert cancelled.status_code == 200, cancelled.text
        assert await _audits(client, pid) == [
            ("action.created", "alice", None),
            ("action.retried", "alice", "back up"),
            ("action.extended", "alice", None),
            ("action.cancelled", "alice", "not needed"),
        ]


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {f["field"] for f in response.json()["error"]["fields"]}


async def test_a_reason_too_long_is_422_naming_it(app: Starlette) -> None:
    """501 characters after trimming are refused naming ``reason`` (with every other wrong
    field of the body), and nothing changes."""
    too_long = {"reason": "x" * 501}
    async with _client(app, CI) as client:
        pid = await _create(client)
        before = await _audits(client, pid)
        assert _fields(await client.post(f"/v1/pipelines/{pid}/cancel", json=too_long)) == {
            "reason"
        }
        assert _fields(await client.post(f"/v1/pipelines/{pid}/retry", json=too_long)) == {"reason"}
        extend = await client.post(f"/v1/pipelines/{pid}/extends", json={"prompt": "", **too_long})
        assert _fields(extend) == {"prompt", "reason"}
        assert _fields(await client.post(f"/v1/pipelines/{pid}/cancel", json={"why": "x"})) == {
            "why"
        }
        assert (await client.get(f"/v1/pipelines/{pid}")).json()["status"] == "pending"
        assert await _audits(client, pid) == before


async def test_a_replayed_create_records_nothing(app: Starlette) -> None:
    """The same Idempotency-Key and body, even from another token, return the pipeline (200)
    and write no audit event."""
    key = {"Idempotency-Key": "job-42"}
    async with _client(app, CI) as ci, _client(app, ALICE) as alice:
        first = await ci.post("/v1/pipelines", json=BODY, headers=key)
        again = await alice.post("/v1/pipelines", json=BODY, headers=key)
        assert (first.status_code, again.status_code) == (201, 200)
        pid = first.json()["id"]
        assert await _audits(ci, pid) == [("action.created", "ci", None)]


async def test_openapi_documents_the_optional_reason(app: Starlette) -> None:
    """cancel and retry take an optional body with ``reason``; the extend body has one too."""
    async with _client(app) as client:
        doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for action in ("cancel", "retry"):
        body = doc["paths"][f"/v1/pipelines/{{pipeline_id}}/{action}"]["post"]["requestBody"]
        assert body["required"] is False
        name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "reason" in schemas[name]["properties"]
    extend = doc["paths"]["/v1/pipelines/{pipeline_id}/extends"]["post"]["requestBody"]
    name = extend["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"prompt", "from", "reason"} <= set(schemas[name]["properties"])
    assert "reason" not in schemas["ExtendSpec"]["properties"]  # create's extends have none
