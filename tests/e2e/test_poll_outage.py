"""A provider outage, then a lagging task store: the paid result is kept, not thrown away.

A small proxy stands between reelay and the sandbox. Each task's first status requests answer
503 (the provider is down), the next ones 404 (its task store lags behind after the outage),
and the rest pass through. Fewer 404s than the tolerance never fail a step, however many 5xx
came before them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.engine.outcomes import TASK_NOT_FOUND_LIMIT
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import load_settings
from tests.e2e.helpers import chain_body, provider_overrides
from tests.eventually import eventually
from tests.loopback import SANDBOX_PREFIX, running_sandbox, serve_app

OUTAGE = 6  # more 503s than the 404 tolerance
LAG = TASK_NOT_FOUND_LIMIT - 1


def flaky_status_proxy(
    upstream: str, answered: Counter[str], client: httpx.AsyncClient
) -> Starlette:
    """Forwards everything to ``upstream``, except each task's first status requests."""

    async def forward(request: Request) -> Response:
        path = request.url.path
        is_status = request.method == "GET" and "/videos/" in path and "/content" not in path
        if is_status:
            answered[path] += 1
            n = answered[path]
            if n <= OUTAGE:
                return JSONResponse({"error": {"message": "upstream down"}}, status_code=503)
            if n <= OUTAGE + LAG:
                return JSONResponse({"error": {"message": "task not found"}}, status_code=404)
        upstream_response = await client.request(
            request.method,
            upstream + path,
            params=request.query_params,
            content=await request.body(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        headers = {
            k: v
            for k, v in upstream_response.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        }
        return Response(upstream_response.content, upstream_response.status_code, headers)

    methods = ["GET", "POST"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


async def test_outage_then_lagging_404s_then_success_ends_succeeded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every step ends succeeded; the outage was said once (fed by the provider HTTP
    observer), and its end once."""
    caplog.set_level(logging.INFO, "reelay.health")
    answered: Counter[str] = Counter()
    async with (
        running_sandbox(SandboxConfig(task_seconds=0)) as sandbox,
        httpx.AsyncClient() as client,
    ):
        proxy_app = flaky_status_proxy(sandbox, answered, client)
        async with serve_app(proxy_app, lifespan="off") as proxy:
            overrides = provider_overrides(sandbox, first_poll_s=0.01, poll_interval_s=0.01)
            overrides["octopusx"]["base_url"] = proxy + SANDBOX_PREFIX["octopusx"]
            overrides["octopusx"]["poll_max_interval_s"] = 0.05
            settings = load_settings(
                database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
                data_dir=tmp_path / "data",
                _env_file=None,
                **overrides,
            )
            async with open_runtime(settings) as rt:
                engine = asyncio.create_task(rt.engine.run())
                ids = []
                for n in range(3):
                    body = chain_body("octopusx", n)
                    view, _ = await rt.operations.create(PipelineRequest.model_validate(body))
                    ids.append(view.pipeline.id)

                async def finished() -> bool:
                    views = [await rt.operations.get(i) for i in ids]
                    return all(v.pipeline.status in ("succeeded", "failed") for v in views)

                await eventually(finished, within=60, what="pipelines after the outage", every=0.1)
                rt.engine.stop()
                await engine
                views = [await rt.operations.get(i) for i in ids]
    errors = [s.error for v in views for s in v.steps if s.error is not None]
    assert [v.pipeline.status for v in views] == ["succeeded"] * 3, errors
    # Every step met the whole outage and the whole lag before its task was seen.
    assert len(answered) == 9
    assert min(answered.values()) > OUTAGE + LAG
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "reelay.health"]
    assert said[0][0] == logging.WARNING
    assert said[0][1].startswith("provider octopusx degraded: its last 5 requests failed")
    assert said[-1] == (logging.INFO, "provider octopusx recovered")
