"""The ``/_sandbox`` routes: runtime config, task inspection with submit counts, reset, health."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orchestrator.sandbox import SandboxConfig
from tests.clock import Clock
from tests.sandbox.conftest import Configure

APIXO = "/apixo/api/v1/generateTask/veo-3-1"
APIXO_INPUT = {"mode": "fast", "prompt": "p", "generationType": "TEXT_2_VIDEO"}


async def tasks(sandbox: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = (await sandbox.get("/_sandbox/tasks", params=params)).json()
    return result


def test_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fields come from ``REELAY_SANDBOX_*`` variables."""
    monkeypatch.setenv("REELAY_SANDBOX_TASK_SECONDS", "0.2")
    monkeypatch.setenv("REELAY_SANDBOX_RATE_429", "0.1")
    config = SandboxConfig()
    assert (config.task_seconds, config.rate_429) == (0.2, 0.1)


def test_provider_faults_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-provider fault lists are JSON lists in the environment."""
    monkeypatch.setenv("REELAY_SANDBOX_OUT_OF_BALANCE", '["apixo", "apifree"]')
    monkeypatch.setenv("REELAY_SANDBOX_RATE_LIMITED", "[]")
    config = SandboxConfig()
    assert (config.out_of_balance, config.rate_limited) == (["apixo", "apifree"], [])


async def test_unknown_provider_names_the_bad_entry(sandbox: httpx.AsyncClient) -> None:
    """The 422 for an unknown provider points at the offending list entry."""
    response = await sandbox.post("/_sandbox/config", json={"rate_limited": ["apixo", "nope"]})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["rate_limited", 1]


async def test_get_config(sandbox: httpx.AsyncClient) -> None:
    """``GET /_sandbox/config`` answers every field of the effective config."""
    config = (await sandbox.get("/_sandbox/config")).json()
    assert config == SandboxConfig(task_seconds=10, seed=7).model_dump()


async def test_post_config_changes_only_the_given_fields(configure: Configure) -> None:
    """A partial update answers the new effective config with the rest unchanged."""
    config = await configure(rate_5xx=0.25, task_seconds=0)
    assert (config["rate_5xx"], config["task_seconds"], config["seed"]) == (0.25, 0, 7)


@pytest.mark.parametrize(
    "body",
    [
        {"rate_429": 2},
        {"task_seconds": -1},
        {"colour": "red"},
        [1],
        {"out_of_balance": ["openai"]},
        {"rate_limited": ["apixo", "apimart2"]},
        {"out_of_balance": "apixo"},
    ],
)
async def test_bad_config_is_refused_and_nothing_changes(
    sandbox: httpx.AsyncClient, body: Any
) -> None:
    """Out-of-range values, unknown fields or providers and non-objects answer 422, changing
    nothing."""
    before = (await sandbox.get("/_sandbox/config")).json()
    response = await sandbox.post("/_sandbox/config", json=body)
    assert response.status_code == 422
    assert (await sandbox.get("/_sandbox/config")).json() == before


async def test_runtime_config_applies_to_new_tasks(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """task_seconds 0 set at runtime makes the next task finished at its first poll."""
    await configure(task_seconds=0)
    response = await sandbox.post("/apifree/v1/videos", json={"model": "m", "prompt": "p"})
    video = (await sandbox.get(f"/apifree/v1/videos/{response.json()['id']}")).json()
    assert video["status"] == "completed"


async def test_tasks_lists_what_was_accepted(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """Every accepted task is listed with its provider, kind, source, model, prompt and state."""
    await sandbox.post("/octopusx/v1/videos", json={"model": "veo_3_1", "prompt": "base"})
    [base] = await tasks(sandbox)
    clock.advance(10)
    remix = {"model": "veo_3_1-extend", "prompt": "more"}
    await sandbox.post(f"/octopusx/v1/videos/{base['task_id']}/remix", json=remix)
    await sandbox.post(APIXO, json={"input": APIXO_INPUT})
    listing = await tasks(sandbox, provider="octopusx")
    assert [(t["kind"], t["model"], t["prompt"]) for t in listing] == [
        ("generate", "veo_3_1", "base"),
        ("extend", "veo_3_1-extend", "more"),
    ]
    assert listing[1]["source_task_id"] == base["task_id"]
    assert [t["state"] for t in listing] == ["succeeded", "queued"]
    assert listing[0]["created_at"] == clock.now - 10
    assert [t["provider"] for t in await tasks(sandbox)] == ["octopusx", "octopusx", "apixo"]


async def test_refused_submits_are_not_listed(sandbox: httpx.AsyncClient) -> None:
    """Only accepted tasks are recorded."""
    await sandbox.post("/octopusx/v1/videos", json={"model": "veo_3_1"})
    assert await tasks(sandbox) == []


async def test_submit_count_counts_identical_submits(sandbox: httpx.AsyncClient) -> None:
    """Identical bodies count together, whatever their callback fields; others count apart."""
    for callback in ("http://a.test/1", "http://a.test/2"):
        body = {"request_type": "callback", "callback_url": callback, "input": APIXO_INPUT}
        await sandbox.post(APIXO, json=body)
    await sandbox.post(APIXO, json={"input": APIXO_INPUT})
    await sandbox.post(APIXO, json={"input": APIXO_INPUT | {"prompt": "other"}})
    counts = [(t["prompt"], t["submit_count"]) for t in await tasks(sandbox)]
    assert counts == [("p", 3), ("p", 3), ("p", 3), ("other", 1)]


async def test_reset_forgets_tasks_and_restores_config(
    sandbox: httpx.AsyncClient, configure: Configure
) -> None:
    """Reset empties the task list and callback log and restores the start-up config."""
    await sandbox.post("/apifree/v1/videos", json={"model": "m", "prompt": "p"})
    await configure(rate_5xx=0.5, out_of_balance=["apifree"], rate_limited=["apimart"])
    assert (await sandbox.post("/_sandbox/reset")).status_code == 200
    assert await tasks(sandbox) == []
    assert (await sandbox.get("/_sandbox/callbacks")).json() == []
    config = (await sandbox.get("/_sandbox/config")).json()
    assert (config["rate_5xx"], config["out_of_balance"], config["rate_limited"]) == (0, [], [])
    response = await sandbox.post("/apifree/v1/videos", json={"model": "m", "prompt": "p"})
    assert response.status_code == 200


async def test_health(sandbox: httpx.AsyncClient) -> None:
    """Health answers ok and the task count."""
    await sandbox.post("/apifree/v1/videos", json={"model": "m", "prompt": "p"})
    assert (await sandbox.get("/_sandbox/health")).json() == {"status": "ok", "tasks": 1}
