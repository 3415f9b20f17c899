"""Provider faults: 429 storms, 5xx bursts, slow answers, dropped and duplicated callbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from orchestrator.plans import PipelineRequest
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
from tests.loopback import free_port, running_sandbox, serve_app


async def test_pipelines_complete_through_provider_faults(tmp_path: Path) -> None:
    """With a fifth of requests refused (429 with Retry-After, or 5xx), some answers slow, and
    callbacks dropped or duplicated, every pipeline still succeeds and no step is sent twice."""
    config = SandboxConfig(
        task_seconds=0.1,
        rate_429=0.12,
        retry_after_s=1,
        rate_5xx=0.08,
        slow_rate=0.1,
        slow_seconds=0.3,
        drop_callback_rate=0.3,
        duplicate_callback_rate=0.3,
        time_scale=0.01,
        seed=21,
    )
    async with running_sandbox(config) as sandbox:
        public_port = free_port()
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            public_url=f"http://127.0.0.1:{public_port}",
            submit_retry_max_attempts=12,
            _env_file=None,
            **provider_overrides(sandbox, first_poll_s=0.2, poll_interval_s=0.2),
        )
        async with (
            open_runtime(settings) as rt,
            serve_app(rt.public_app, lifespan="off", port=public_port),
        ):
            engine = asyncio.create_task(rt.engine.run())
            ids = []
            for n in range(10):
                for name in PROVIDER_NAMES:
                    body = chain_body(name, n)
                    view, _ = await rt.operations.create(PipelineRequest.model_validate(body))
                    ids.append(view.pipeline.id)

            async def finished() -> bool:
                views = [await rt.operations.get(i) for i in ids]
                return all(v.pipeline.status in ("succeeded", "failed") for v in views)

            await eventually(finished, within=120, what="pipelines under faults", every=0.1)
            rt.engine.stop()
            await engine
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rt.api_app)) as api:
                pipelines = [(await api.get(f"http://api/v1/pipelines/{i}")).json() for i in ids]
        tasks = await sandbox_tasks(sandbox)
    assert {p["status"] for p in pipelines} == {"succeeded"}
    assert_submitted_once(pipelines, tasks)
    retried = sum(s["attempts"] > 1 for p in pipelines for s in p["steps"])
    assert retried > 0, "the faults should have forced some submits to be retried"
