"""``GET /v1/providers``: each provider's tasks in flight, back-pressure, probes and last hour,
on a real SQLite store; and, through the runtime, from real adapters' requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api import create_api_app
from orchestrator.api.schemas import iso
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers import errors as pe
from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import Settings, load_settings
from orchestrator.store import Store
from tests.api.helpers import TOKEN
from tests.clock import Clock
from tests.e2e.helpers import provider_overrides
from tests.fakes import FakeProvider
from tests.loopback import running_sandbox
from tests.orchestrator.helpers import CHAIN, rig

FIELDS = {
    "name",
    "configured",
    "degraded",
    "reasons",
    "in_flight",
    "window",
    "cooldown_until",
    "paused",
    "paused_at",
    "last_probe_at",
    "last_probe_result",
    "requests_last_hour",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "recent_errors",
}


def client(app: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)


Board = tuple[httpx.AsyncClient, Engine, Clock]


@pytest.fixture
async def board(settings: Settings, store: Store, fake: FakeProvider) -> AsyncIterator[Board]:
    """The API on the fake provider's engine, with one pipeline created; their test clock."""
    engine, ops, clock = rig(settings, store, fake)
    app = create_api_app(ops, store, api_token=TOKEN, provider_report=engine.provider_report)
    async with client(app) as api:
        await ops.create(CHAIN)
        yield api, engine, clock


async def fake_state(api: httpx.AsyncClient) -> dict[str, Any]:
    answer = await api.get("/v1/providers")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [p["name"] for p in items] == ["fake"]
    state: dict[str, Any] = items[0]
    return state


async def test_the_shape_and_the_tasks_in_flight(board: Board, store: Store) -> None:
    """Every field is there; the two submitted base steps are in flight; requests the HTTP
    observer reports give the last hour's count, latency and error rate."""
    api, engine, clock = board
    await Operations(store, {"fake": FakeProvider()}, clock=clock).create(CHAIN)
    idle = await fake_state(api)
    assert set(idle) == FIELDS
    assert idle == {
        "name": "fake",
        "configured": False,  # no API key in its settings
        "degraded": False,
        "reasons": [],
        "in_flight": 0,
        "window": 64,
        "cooldown_until": None,
        "paused": False,
        "paused_at": None,
        "last_probe_at": None,
        "last_probe_result": None,
        "requests_last_hour": 0,
        "error_rate": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "recent_errors": [],
    }
    await engine.run_once()
    for outcome in ("200", "200", "200", "503"):
        engine.request_stats.observe("fake", "status", outcome, 0.25)
    busy = await fake_state(api)
    assert busy["in_flight"] == 2
    assert busy["requests_last_hour"] == 4
    assert busy["error_rate"] == pytest.approx(0.25)
    assert busy["latency_p50_ms"] == pytest.approx(250, rel=0.05)
    assert busy["latency_p95_ms"] == pytest.approx(250, rel=0.05)
    clock.advance(3600)
    assert (await fake_state(api))["requests_last_hour"] == 0


async def test_the_route_needs_the_token(board: Board) -> None:
    api, _, _ = board
    refused = await api.get("/v1/providers", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401


async def test_a_429_shows_its_cooldown_and_error(board: Board, fake: FakeProvider) -> None:
    """A 429 with Retry-After 30: degraded, cooling down until then, the window halved, and
    the refusal in the recent errors with its operation."""
    api, engine, clock = board
    fake.submit_errors.append(
        pe.RateLimited("slow down", provider="fake", code="rate_limit", retry_after=30)
    )
    await engine.run_once()
    state = await fake_state(api)
    assert state["cooldown_until"] == iso(clock.now + 30)
    assert state["window"] == 32
    assert state["degraded"] is True
    assert any("429" in reason for reason in state["reasons"])
    assert state["recent_errors"] == [
        {
            "at": iso(clock.now),
            "operation": "generate",
            "outcome": "429",
            "message": "rate_limit: slow down",
        }
    ]
    clock.advance(31)
    after = await fake_state(api)
    assert (after["cooldown_until"], after["degraded"]) == (None, False)


async def test_a_402_pauses_and_each_probe_is_shown(board: Board, fake: FakeProvider) -> None:
    """A 402 pauses submissions from then; a probe a minute later that gets 402 again is
    shown with its time and result, and the probe that passes resumes them."""
    api, engine, clock = board
    paused_at = clock.now
    fake.submit_errors.append(pe.InsufficientBalance("top up", provider="fake", status_code=402))
    await engine.run_once()
    state = await fake_state(api)
    assert (state["paused"], state["paused_at"], state["last_probe_at"]) == (
        True,
        iso(paused_at),
        None,
    )
    assert [e["outcome"] for e in state["recent_errors"]] == ["402"]

    clock.advance(60)
    fake.submit_errors.append(pe.InsufficientBalance("still", provider="fake", status_code=402))
    await engine.run_once()
    state = await fake_state(api)
    assert state["paused"] is True
    assert (state["last_probe_at"], state["last_probe_result"]) == (
        iso(clock.now),
        "insufficient_balance",
    )
    assert len(fake.submits) == 0

    clock.advance(60)
    await engine.run_once()
    state = await fake_state(api)
    assert (state["paused"], state["paused_at"], state["degraded"]) == (False, None, False)
    assert (state["last_probe_at"], state["last_probe_result"]) == (iso(clock.now), "succeeded")
    assert len(fake.submits) == 1  # the probe: one submit, then the pause is over


async def test_the_runtime_reports_real_adapters_requests(tmp_path: Path) -> None:
    """Through the runtime: the adapters' HTTP observer feeds the report, which shows a
    sandbox 429 on apixo (its key set) with the cooldown its Retry-After asked for."""
    clock = Clock()
    async with running_sandbox(
        SandboxConfig(task_seconds=0, rate_429=1.0, retry_after_s=30)
    ) as url:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            api_token=TOKEN,
            _env_file=None,
            **provider_overrides(url),
        )
        async with open_runtime(settings, clock=clock) as rt, client(rt.api_app) as api:
            body = {"provider": "apixo", "prompt": "a fox"}
            await rt.operations.create(PipelineRequest.model_validate(body))
            await rt.engine.run_once()
            answer = await api.get("/v1/providers")
    assert answer.status_code == 200
    items = {p["name"]: p for p in answer.json()["items"]}
    assert list(items) == ["apimart", "octopusx", "apixo", "apifree"]
    apixo = items["apixo"]
    assert apixo["configured"] is True
    assert apixo["requests_last_hour"] == 1
    assert apixo["error_rate"] == 0.0  # a 429 is back-pressure, not the provider failing
    assert apixo["latency_p50_ms"] is not None
    assert apixo["cooldown_until"] == iso(clock.now + 30)
    assert [(e["operation"], e["outcome"]) for e in apixo["recent_errors"]] == [("generate", "429")]
    assert items["apimart"]["requests_last_hour"] == 0
