"""Callback mode end to end: the sandbox calls reelay's public receiver over real HTTP."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import load_settings
from receiver.tokens import CallbackTokens
from tests.e2e.helpers import (
    assert_submitted_once,
    chain_body,
    provider_overrides,
    sandbox_tasks,
)
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox, serve_app


async def test_callbacks_drive_pipelines_despite_duplicates_and_drops(tmp_path: Path) -> None:
    """apixo and apimart pipelines complete in callback mode; duplicated callbacks change
    nothing, dropped ones are reconciled by polling, and each step is submitted once."""
    config = SandboxConfig(
        task_seconds=0.1, duplicate_callback_rate=0.3, drop_callback_rate=0.2, seed=11
    )
    async with running_sandbox(config) as sandbox:
        public_port = free_port()
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            public_url=f"http://127.0.0.1:{public_port}",
            _env_file=None,
            # Callback mode doubles the first poll: ~1 s, well after a callback would arrive.
            **provider_overrides(sandbox, first_poll_s=0.5, poll_interval_s=0.5),
        )
        async with open_runtime(settings) as rt, serve_app(rt.api_app, lifespan="off") as api:
            public = serve_app(rt.public_app, lifespan="off", port=public_port)
            async with public as receiver:
                engine = asyncio.create_task(rt.engine.run())
                async with httpx.AsyncClient(base_url=api) as client:
                    ids = []
                    for provider in ("apixo", "apimart"):
                        for n in range(15):
                            r = await client.post("/v1/pipelines", json=chain_body(provider, n))
                            ids.append(r.json()["id"])

                    async def finished() -> bool:
                        for status in ("pending", "running"):
                            page = await client.get(
                                "/v1/pipelines", params={"status": status, "limit": 1}
                            )
                            if page.json()["items"]:
                                return False
                        return True

                    await eventually(finished, within=60, what="callback-mode pipelines", every=0.1)
                    pipelines = [(await client.get(f"/v1/pipelines/{i}")).json() for i in ids]
                    forged = await client.post(
                        f"{receiver}/callbacks/apixo/forged.token.value", json={"data": {}}
                    )
                rt.engine.stop()
                await engine
        assert {p["status"] for p in pipelines} == {"succeeded"}
        assert_submitted_once(pipelines, await sandbox_tasks(sandbox))
        assert forged.status_code == 401
    db = sqlite3.connect(tmp_path / "reelay.db")
    recorded = db.execute("SELECT COUNT(*) FROM callbacks").fetchone()[0]
    by_callback = db.execute(
        "SELECT COUNT(*) FROM steps WHERE callback_mode = 1 AND polls = 1"
    ).fetchone()[0]
    db.close()
    # Every step was submitted in callback mode; most finished on their callback's confirming
    # poll alone, and the dropped ones were still reconciled.
    assert 0 < recorded < 90
    assert by_callback > 45


async def test_hostile_callbacks_over_real_http(tmp_path: Path) -> None:
    """Over real HTTP: retired-secret and other-step tokens, oversize bodies with and without
    Content-Length, and a forged success for a running task are all refused or harmless."""
    async with running_sandbox(SandboxConfig(task_seconds=30)) as sandbox:
        public_port = free_port()
        base = {
            "database_url": f"sqlite:///{tmp_path / 'reelay.db'}",
            "data_dir": tmp_path / "data",
            "public_url": f"http://127.0.0.1:{public_port}",
            "_env_file": None,
            **provider_overrides(sandbox, first_poll_s=60),
        }
        retired = CallbackTokens(["retired"], max_age_s=3600)
        settings = load_settings(signing_secret="current,previous", **base)
        async with open_runtime(settings) as rt:
            engine = asyncio.create_task(rt.engine.run())
            view, _ = await rt.operations.create(
                PipelineRequest.model_validate(chain_body("apixo", 0))
            )
            pid = view.pipeline.id

            async def submitted() -> bool:
                return (await rt.operations.get(pid)).steps[0].provider_task_id is not None

            await eventually(submitted, within=30, what="the base submit", every=0.1)
            task = (await rt.operations.get(pid)).steps[0].provider_task_id
            success = {
                "code": 200,
                "message": "success",
                "data": {
                    "taskId": task,
                    "state": "success",
                    "resultJson": '{"resultUrls":["https://x/y.mp4"]}',
                    "createTime": 1,
                    "completeTime": 2,
                    "costTime": 1,
                },
            }

            def url(tokens: CallbackTokens, step: int) -> str:
                token = tokens.mint(CallbackTarget(pid, step, "apixo"))
                return f"/callbacks/apixo/{token}"

            async with (
                serve_app(rt.public_app, lifespan="off", port=public_port) as receiver,
                httpx.AsyncClient(base_url=receiver) as client,
            ):
                assert (await client.post(url(retired, 0), json=success)).status_code == 401
                assert (await client.post(url(rt.tokens, 1), json=success)).status_code == 400
                huge = b'{"x":"' + b"a" * 70_000 + b'"}'
                headers = {"Content-Type": "application/json"}
                assert (
                    await client.post(url(rt.tokens, 0), content=huge, headers=headers)
                ).status_code == 413

                async def chunked() -> AsyncIterator[bytes]:
                    for i in range(0, len(huge), 8192):
                        yield huge[i : i + 8192]

                response = await client.post(url(rt.tokens, 0), content=chunked(), headers=headers)
                assert response.status_code == 413
                # A forged success while the task still runs: accepted as a hint, then refuted.
                assert (await client.post(url(rt.tokens, 0), json=success)).status_code == 200

                async def confirmed() -> bool:
                    return (await rt.operations.get(pid)).steps[0].polls >= 1

                await eventually(confirmed, within=30, what="the confirming poll", every=0.1)
            after = await rt.operations.get(pid)
            rt.engine.stop()
            await engine
        assert after.steps[0].status in ("submitted", "running")
        assert after.steps[0].polls >= 1
        assert after.steps[1].status == "pending"
        assert len(await sandbox_tasks(sandbox)) == 1
