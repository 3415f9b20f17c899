"""50 pipelines per provider, reelay and the sandbox talking real HTTP over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import PROVIDER_NAMES, load_settings
from tests.e2e.helpers import (
    assert_submitted_once,
    chain_body,
    provider_overrides,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import running_sandbox, serve_app

PER_PROVIDER = 50


async def test_fifty_pipelines_per_provider_all_succeed(tmp_path: Path) -> None:
    """200 pipelines (generate + 2 extends; apixo branches) succeed, each step submitted once."""
    async with running_sandbox(SandboxConfig(task_seconds=0.05, seed=3)) as sandbox:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            _env_file=None,
            **provider_overrides(sandbox),
        )
        async with open_runtime(settings) as rt, serve_app(rt.api_app, lifespan="off") as api:
            engine = asyncio.create_task(rt.engine.run())
            async with httpx.AsyncClient(base_url=api) as client:
                created = [
                    await client.post("/v1/pipelines", json=chain_body(name, n))
                    for name in PROVIDER_NAMES
                    for n in range(PER_PROVIDER)
                ]
                assert all(r.status_code == 201 for r in created)
                ids = [r.json()["id"] for r in created]

                async def all_finished() -> bool:
                    for status in ("pending", "running"):
                        page = await client.get(
                            "/v1/pipelines", params={"status": status, "limit": 1}
                        )
                        if page.json()["items"]:
                            return False
                    return True

                await eventually(all_finished, within=60, what="200 pipelines to finish", every=0.1)
                pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
            rt.engine.stop()
            await engine
        assert {p["status"] for p in pipelines} == {"succeeded"}
        assert all(s["video_url"] for p in pipelines for s in p["steps"])
        assert_submitted_once(pipelines, await sandbox_tasks(sandbox))
