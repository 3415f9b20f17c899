"""Every action on a pipeline is audited: an ``action.*`` event, in the same transaction as the
change, naming the token that did it and the reason it gave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.operations import Operations
from orchestrator.settings import ConfigError, load_settings
from orchestrator.store import Store
from tests.api.helpers import BODY
from tests.fakes import FakeProvider

TOKENS = {"api": "the-default-token-0123", "ci": "the-ci-token-0123456789"}


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    ops = Operations(store, {"fake": FakeProvider(max_extend_depth=1)})
    app = create_api_app(ops, store, api_token=None, api_tokens=TOKENS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def _as(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


async def _audit(api: httpx.AsyncClient, pid: str) -> list[tuple[str, dict[str, Any]]]:
    events = (await api.get(f"/v1/pipelines/{pid}/events", headers=_as("api"))).json()["items"]
    return [(e["type"], e["data"]) for e in events if e["type"].startswith("action.")]


async def test_each_action_names_its_token_and_reason(api: httpx.AsyncClient) -> None:
    """Create, extend and cancel, each by a named token, each with its reason (trimmed)."""
    created = await api.post("/v1/pipelines", json={**BODY, "extends": []}, headers=_as("ci"))
    pid = created.json()["id"]
    extended = await api.post(
        f"/v1/pipelines/{pid}/extends",
        json={"prompt": "more", "from": 0, "reason": "  longer cut  "},
        headers=_as("api"),
    )
    assert extended.status_code == 201, extended.text
    cancelled = await api.post(
        f"/v1/pipelines/{pid}/cancel", json={"reason": "wrong prompt"}, headers=_as("ci")
    )
    assert cancelled.status_code == 200
    audit = await _audit(api, pid)
    assert [(kind, data["actor"], data["reason"]) for kind, data in audit] == [
        ("action.created", "ci", None),
        ("action.extended", "api", "longer cut"),
        ("action.cancelled", "ci", "wrong prompt"),
    ]


async def test_a_replayed_create_writes_no_audit_event(api: httpx.AsyncClient) -> None:
    """The same Idempotency-Key and body return the pipeline and record nothing more."""
    headers = {**_as("ci"), "Idempotency-Key": "k-1"}
    first = await api.post("/v1/pipelines", json=BODY, headers=headers)
    again = await api.post("/v1/pipelines", json=BODY, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert [kind for kind, _ in await _audit(api, first.json()["id"])] == ["action.created"]


@pytest.mark.parametrize("reason", ["x" * 501, " " + "y" * 501])
async def test_a_reason_too_long_is_refused_naming_it(api: httpx.AsyncClient, reason: str) -> None:
    """Over 500 characters (trimmed) is a 422 naming ``reason``; nothing is cancelled."""
    pid = (await api.post("/v1/pipelines", json=BODY, headers=_as("ci"))).json()["id"]
    refused = await api.post(
        f"/v1/pipelines/{pid}/cancel", json={"reason": reason}, headers=_as("ci")
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "reason"
    assert [kind for kind, _ in await _audit(api, pid)] == ["action.created"]


async def test_a_token_that_is_none_of_them_is_401(api: httpx.AsyncClient) -> None:
    """Only a configured token gets in."""
    wrong = await api.get("/v1/pipelines", headers={"Authorization": "Bearer guess-0123456789"})
    assert wrong.status_code == 401


async def test_without_tokens_the_actor_is_anonymous(store: Store) -> None:
    """An open API (loopback, no token) records ``anonymous``."""
    app = create_api_app(
        Operations(store, {"fake": FakeProvider()}), store, api_token=None, api_tokens={}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        pid = (await client.post("/v1/pipelines", json=BODY)).json()["id"]
        await client.post(f"/v1/pipelines/{pid}/cancel")
        events = (await client.get(f"/v1/pipelines/{pid}/events")).json()["items"]
    actors = [e["data"]["actor"] for e in events if e["type"].startswith("action.")]
    assert actors == ["anonymous", "anonymous"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("ci", "entry 1 is not name=token"),
        ("CI=0123456789abcdef", "entry 1: the name"),
        ("ci=0123456789abcdef,bot=short", "entry 2 (bot): the token must be at least 16"),
    ],
)
def test_malformed_named_tokens_stop_start_up(value: str, says: str) -> None:
    """A bad REELAY_API_TOKENS is refused, naming the setting and the entry, not the token."""
    with pytest.raises(ConfigError) as refused:
        load_settings(api_tokens=value, _env_file=None)
    assert "REELAY_API_TOKENS" in str(refused.value)
    assert says in str(refused.value)
    assert "0123456789abcdef" not in str(refused.value)


def test_named_tokens_are_read_with_the_default_one() -> None:
    """REELAY_API_TOKEN is ``api``; the named ones follow."""
    settings = load_settings(
        api_token="default-token-0123", api_tokens="ci=ci-token-0123456789", _env_file=None
    )
    assert settings.named_api_tokens() == {
        "api": "default-token-0123",
        "ci": "ci-token-0123456789",
    }
