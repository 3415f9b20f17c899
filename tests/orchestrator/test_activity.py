"""The activity log: what ``reelay serve`` says about pipelines at info level."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path

import pytest

from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import load_settings
from tests.e2e.helpers import provider_overrides
from tests.eventually import eventually
from tests.loopback import running_sandbox


async def test_a_pipeline_is_told_one_line_per_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real pipeline on the sandbox logs its creation, each submit with its task id, each
    step's success and its own success, at info level, each line carrying pipeline_id, step
    and provider; events from before the start are not told again."""
    caplog.set_level(logging.INFO, logger="reelay.activity")
    async with running_sandbox(SandboxConfig(task_seconds=0.05)) as sandbox:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            _env_file=None,
            **provider_overrides(sandbox),
        )
        body = {"provider": "octopusx", "prompt": "a fox", "extends": [{"prompt": "it leaps"}]}
        async with open_runtime(settings) as rt:
            old, _ = await rt.operations.create(PipelineRequest.model_validate(body))
            await rt.operations.cancel(old.pipeline.id)
        caplog.clear()
        async with open_runtime(settings) as rt:
            engine = asyncio.create_task(rt.engine.run())
            view, _ = await rt.operations.create(PipelineRequest.model_validate(body))
            pid = view.pipeline.id

            def told() -> list[logging.LogRecord]:
                return [r for r in caplog.records if r.name == "reelay.activity"]

            async def ended() -> bool:
                return any(r.getMessage() == "pipeline succeeded" for r in told())

            try:
                await eventually(
                    ended, within=60, what="the pipeline's success in the log", every=0.1
                )
            finally:
                rt.engine.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await engine

    records = told()
    ours = [r for r in records if getattr(r, "pipeline_id", None) == pid]
    assert [re.sub(r"task \S+", "task T", r.getMessage()) for r in ours] == [
        "pipeline created",
        "step 0 submitted, task T",
        "step 0 succeeded",
        "step 1 submitted, task T",
        "step 1 succeeded",
        "pipeline succeeded",
    ]
    assert "task None" not in " ".join(r.getMessage() for r in ours)
    assert {r.levelno for r in ours} == {logging.INFO}
    assert {getattr(r, "provider", None) for r in ours} == {"octopusx"}
    assert [getattr(r, "step", None) for r in ours] == [None, 0, 0, 1, 1, None]
    # The pipeline created and cancelled before this start is not told again: the activity
    # log starts from the newest event.
    assert all(getattr(r, "pipeline_id", None) != old.pipeline.id for r in records)
