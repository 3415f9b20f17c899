"""Outbound webhooks end to end: reelay delivers every event, signed and in order, to real
HTTP receivers on loopback (private destinations allowed for the test)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.domain.webhooks import DEFAULT_EVENT_TYPES
from orchestrator.plans import PipelineRequest
from orchestrator.runtime import open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.settings import load_settings
from orchestrator.webhooks.signing import verify
from tests.e2e.helpers import chain_body, provider_overrides
from tests.eventually import eventually
from tests.loopback import running_sandbox, serve_app

PIPELINE_SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"


def receiver(log: list[tuple[str, dict[str, str], bytes]], flaky: dict[str, int]) -> Starlette:
    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        if flaky.get(name, 0) > 0:  # the first deliveries fail: reelay must retry, in order
            flaky[name] -= 1
            return Response(status_code=503)
        log.append((name, dict(request.headers), body))
        return Response(status_code=204)

    return Starlette(routes=[Route("/{name}", hook, methods=["POST"])])


async def test_every_event_delivered_signed_and_in_order(tmp_path: Path) -> None:
    """Each pipeline event reaches the pipeline's webhook_url and a registered endpoint exactly
    once per message id, verifiably signed, in sequence order per pipeline."""
    log: list[tuple[str, dict[str, str], bytes]] = []
    flaky = {"endpoint": 1}
    async with (
        running_sandbox(SandboxConfig(task_seconds=0.05)) as sandbox,
        serve_app(receiver(log, flaky), lifespan="off") as hooks,
    ):
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            webhook_allow_private=True,
            webhook_secret=PIPELINE_SECRET,
            _env_file=None,
            **provider_overrides(sandbox),
        )
        async with open_runtime(settings) as rt:
            _, endpoint_secret = await rt.webhooks.create(hooks + "/endpoint", [], "", True)
            tasks = [asyncio.create_task(rt.engine.run()), asyncio.create_task(rt.deliverer.run())]
            ids = []
            for n in range(10):
                body = {**chain_body("octopusx", n), "webhook_url": hooks + "/pipeline"}
                view, _ = await rt.operations.create(PipelineRequest.model_validate(body))
                ids.append(view.pipeline.id)

            async def delivered() -> bool:
                views = [await rt.operations.get(pid) for pid in ids]
                if any(v.pipeline.status != "succeeded" for v in views):
                    return False
                expected = 0
                for pid in ids:
                    events = await rt.store.events(pid)
                    expected += sum(e.type in DEFAULT_EVENT_TYPES for e in events)
                return len(log) >= 2 * expected

            # The endpoint refuses its first delivery once: the retry comes ~5 s later.
            await eventually(delivered, within=90, what="every event delivered twice", every=0.1)
            rt.engine.stop()
            rt.deliverer.stop()
            await asyncio.gather(*tasks)
    by_destination: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    message_ids: dict[str, set[str]] = defaultdict(set)
    for name, headers, raw in log:
        secret = endpoint_secret if name == "endpoint" else PIPELINE_SECRET
        verify(secret, headers, raw, now=time.time())
        payload: dict[str, Any] = json.loads(raw)
        by_destination[name][payload["data"]["pipeline_id"]].append(payload["data"]["seq"])
        assert headers["webhook-id"] not in message_ids[name], "a message was delivered twice"
        message_ids[name].add(headers["webhook-id"])
    for name in ("pipeline", "endpoint"):
        for pid in ids:
            seqs = by_destination[name][pid]
            assert seqs == sorted(seqs)
            assert len(seqs) == len(set(seqs))
