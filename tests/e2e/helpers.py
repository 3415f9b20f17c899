"""Shared pieces of the end-to-end tests: settings pointed at a sandbox, pipeline bodies, waits."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx

from orchestrator.settings import PROVIDER_NAMES
from tests.eventually import eventually
from tests.loopback import SANDBOX_PREFIX

FAST_POLLING = {"first_poll_s": 0.05, "poll_interval_s": 0.05, "poll_max_interval_s": 0.2}


def provider_overrides(sandbox_url: str, **extra: object) -> dict[str, dict[str, object]]:
    return {
        name: {
            "base_url": sandbox_url + SANDBOX_PREFIX[name],
            "api_key": "k",
            **FAST_POLLING,
            **extra,
        }
        for name in PROVIDER_NAMES
    }


def provider_env(sandbox_url: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in PROVIDER_NAMES:
        prefix = f"REELAY_{name.upper()}_"
        env[prefix + "BASE_URL"] = sandbox_url + SANDBOX_PREFIX[name]
        env[prefix + "API_KEY"] = "k"
        for key, value in FAST_POLLING.items():
            env[prefix + key.upper()] = str(value)
    return env


def chain_body(provider: str, n: int) -> dict[str, Any]:
    """Generate + 2 extends; on apixo (depth 1) both extends branch from the base."""
    branch = provider == "apixo"
    body: dict[str, Any] = {
        "provider": provider,
        "prompt": f"{provider} scene {n}",
        "extends": [
            {"prompt": f"{provider} scene {n} part 2", **({"from": 0} if branch else {})},
            {"prompt": f"{provider} scene {n} part 3", **({"from": 0} if branch else {})},
        ],
        "metadata": {"n": n},
    }
    if provider == "apifree":
        body["model"] = "veo-3.1-fast"
    return body


async def sandbox_tasks(sandbox_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(sandbox_url + "/_sandbox/tasks")
        response.raise_for_status()
        body = response.json()
    tasks: list[dict[str, Any]] = body["tasks"] if isinstance(body, dict) else body
    return tasks


def assert_submitted_once(pipelines: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    """Every step is one sandbox task, submitted once, extending its parent's task."""
    by_id = {t["task_id"]: t for t in tasks}
    expected = sum(len(p["steps"]) for p in pipelines)
    resent = sum(1 for t in tasks if t["submit_count"] != 1)
    per_prompt = Counter(t["prompt"] for t in tasks)
    twice = sum(1 for n in per_prompt.values() if n > 1)
    duplicates = (
        f"{resent} task(s) with submit_count != 1; {twice} step prompt(s) with more than one task"
    )
    assert len(tasks) == expected, (
        f"sandbox has {len(tasks)} tasks, pipelines have {expected} steps ({duplicates})"
    )
    assert resent == 0, f"a step was submitted more than once ({duplicates})"
    for p in pipelines:
        steps = p["steps"]
        for step in steps:
            task = by_id[step["provider_task_id"]]
            parent = (
                steps[step["parent"]]["provider_task_id"] if step["parent"] is not None else None
            )
            assert task["source_task_id"] == parent
            assert task["prompt"] == step["prompt"]


@contextlib.asynccontextmanager
async def reelay_process(env: dict[str, str], api_url: str) -> AsyncIterator[Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator.cli", "serve", env=env
    )
    try:
        async with httpx.AsyncClient() as client:

            async def healthy() -> bool:
                if proc.returncode is not None:
                    raise AssertionError(f"reelay serve exited with {proc.returncode} on start")
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(api_url + "/healthz")).status_code == 200
                return False

            await eventually(healthy, within=30, what="reelay serve to start", every=0.05)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def all_settled(client: httpx.AsyncClient, ids: list[str]) -> bool:
    """Finished, or holding only ambiguous steps (with the rest waiting on them)."""
    for status in ("pending", "running"):
        response = await client.get("/v1/pipelines", params={"status": status, "limit": 500})
        response.raise_for_status()
        for p in response.json()["items"]:
            states = {s["status"] for s in p["steps"]}
            if not states <= {"succeeded", "ambiguous", "pending"} or "ambiguous" not in states:
                return False
    return True


async def resume_never_sent(
    client: httpx.AsyncClient, ids: list[str], sandbox: str
) -> list[dict[str, Any]]:
    """The operator's part. A kill between recording a submit's intent and sending it leaves
    a step ambiguous that no callback will ever name: the provider never saw it. reelay can't
    know that; an operator can (here: the sandbox's task list, which has no task for it), and
    resumes the pipeline. Nothing is submitted twice either way."""
    tasks = await sandbox_tasks(sandbox)
    sent = {(t["prompt"]) for t in tasks}
    pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
    for p in pipelines:
        held = [s for s in p["steps"] if s["status"] == "ambiguous"]
        if held:
            assert all(s["prompt"] not in sent for s in held), "a sent submit was not adopted"
            assert (await client.post(f"/v1/pipelines/{p['id']}/retry")).status_code == 200
    return pipelines


async def held_after_sending(client: httpx.AsyncClient, sandbox: str) -> int:
    """Ambiguous steps the provider did receive (the sandbox has a task with their prompt).
    Their callbacks will identify them, so being held is, for them, a passing state."""
    sent = {t["prompt"] for t in await sandbox_tasks(sandbox)}
    held = 0
    for status in ("pending", "running"):
        response = await client.get("/v1/pipelines", params={"status": status, "limit": 500})
        response.raise_for_status()
        for p in response.json()["items"]:
            held += sum(1 for s in p["steps"] if s["status"] == "ambiguous" and s["prompt"] in sent)
    return held
