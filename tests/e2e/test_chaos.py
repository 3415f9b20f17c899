"""Chaos: reelay SIGKILLed three times at random moments mid-run, restarted each time."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import httpx

from orchestrator.sandbox import SandboxConfig
from tests.e2e.helpers import (
    all_settled,
    assert_submitted_once,
    chain_body,
    held_after_sending,
    provider_env,
    reelay_process,
    resume_never_sent,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox

PIPELINES = 200
KILLS = 3


async def test_sigkill_three_times_every_pipeline_succeeds_once(tmp_path: Path) -> None:
    """200 pipelines on the callback providers; three SIGKILLs at random moments. Each restart
    continues from the database; a submit whose answer was lost in a kill is identified by its
    callback (the URL names the step) and continues from that task. Every pipeline succeeds and
    the sandbox saw each step submitted exactly once."""
    rng = random.Random(int(os.environ.get("REELAY_CHAOS_SEED", "7")))
    # Callbacks lost while reelay is down are retried by the sandbox on the providers'
    # schedules, compressed so that they land after the restart.
    config = SandboxConfig(task_seconds=0.3, time_scale=0.05, seed=3)
    async with running_sandbox(config) as sandbox:
        api_port, public_port = free_port(), free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REELAY_")},
            "REELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'reelay.db'}",
            "REELAY_DATA_DIR": str(tmp_path / "data"),
            "REELAY_API_PORT": str(api_port),
            "REELAY_PUBLIC_PORT": str(public_port),
            "REELAY_PUBLIC_URL": f"http://127.0.0.1:{public_port}",
            "REELAY_LOG_LEVEL": "warning",
            **provider_env(sandbox),
        }
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            ids: list[str] = []
            for kill in range(KILLS + 1):
                async with reelay_process(env, api_url) as proc:
                    if kill == 0:
                        for n in range(PIPELINES):
                            body = chain_body("apixo" if n % 2 else "apimart", n)
                            response = await client.post("/v1/pipelines", json=body)
                            assert response.status_code == 201
                            ids.append(response.json()["id"])
                    if kill < KILLS:
                        await asyncio.sleep(rng.uniform(0.5, 2.5))
                        proc.send_signal(signal.SIGKILL)
                        await proc.wait()
                        continue

                    async def settled() -> bool:
                        # A held step the provider did receive waits for its callback (retried
                        # on the provider's schedule); only the never-sent ones are resumed.
                        return await all_settled(client, ids) and not await held_after_sending(
                            client, sandbox
                        )

                    await eventually(
                        settled, within=120, what="every pipeline to settle", every=0.1
                    )
                    pipelines = await resume_never_sent(client, ids, sandbox)
                    await eventually(settled, within=60, what="resumed pipelines", every=0.1)
                    pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
        tasks = await sandbox_tasks(sandbox)
    assert {p["status"] for p in pipelines} == {"succeeded"}
    assert_submitted_once(pipelines, tasks)
