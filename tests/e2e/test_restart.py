"""Stop a real `reelay serve` process mid-run and start another on the same database."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx

from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import PROVIDER_NAMES
from tests.e2e.helpers import (
    assert_submitted_once,
    chain_body,
    provider_env,
    reelay_process,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox


async def test_restart_mid_run_completes_everything_once(tmp_path: Path) -> None:
    """After SIGTERM mid-run, a new process on the same database finishes every pipeline and
    no step is submitted twice."""
    async with running_sandbox(SandboxConfig(task_seconds=0.4, seed=5)) as sandbox:
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REELAY_")},
            "REELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'reelay.db'}",
            "REELAY_DATA_DIR": str(tmp_path / "data"),
            "REELAY_API_PORT": str(api_port),
            "REELAY_PUBLIC_PORT": str(free_port()),
            "REELAY_LOG_LEVEL": "warning",
            **provider_env(sandbox),
        }
        async with httpx.AsyncClient(base_url=api_url) as client:
            async with reelay_process(env, api_url) as first:
                ids = []
                for n in range(13):
                    for name in PROVIDER_NAMES:
                        response = await client.post("/v1/pipelines", json=chain_body(name, n))
                        assert response.status_code == 201
                        ids.append(response.json()["id"])

                async def some_progress() -> bool:
                    return len(await sandbox_tasks(sandbox)) >= 60

                await eventually(
                    some_progress, within=30, what="a first wave of submits", every=0.1
                )
                first.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(first.wait(), timeout=30) == 0
            stopped_at = len(await sandbox_tasks(sandbox))
            assert stopped_at < 3 * len(ids), "the test stopped reelay too late to prove anything"

            async with reelay_process(env, api_url):

                async def all_done() -> bool:
                    for status in ("pending", "running"):
                        page = await client.get(
                            "/v1/pipelines", params={"status": status, "limit": 1}
                        )
                        if page.json()["items"]:
                            return False
                    return True

                await eventually(all_done, within=60, what="every pipeline to finish", every=0.1)
                pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
        assert {p["status"] for p in pipelines} == {"succeeded"}
        assert_submitted_once(pipelines, await sandbox_tasks(sandbox))
