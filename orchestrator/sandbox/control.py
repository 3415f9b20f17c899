"""The sandbox's own routes under ``/_sandbox``: health, config, inspection and reset.

They need no key and meet no injected faults, so tests can drive and inspect a sandbox running
in another process:

- ``GET /_sandbox/health``: ``{"status": "ok", "tasks": <count>}``.
- ``GET /_sandbox/config``; ``POST /_sandbox/config`` with any subset of the fields answers the
  new effective config, or 422 with the validation errors and nothing changed. Besides the
  random fault rates, two lists hold per-provider faults until changed again:
  ``{"out_of_balance": ["apixo"]}`` refuses every submit (generate or extend) to apixo with its
  402 insufficient-balance answer, ``{"rate_limited": ["octopusx"]}`` every submit to octopusx
  with 429 and ``retry_after_s``; neither creates a task, status polls still answer, and ``[]``
  (or a reset) ends them. A name other than the four providers' is a 422.
- ``GET /_sandbox/tasks[?provider=]``: every accepted task, with ``submit_count`` = identical
  submits received.
- ``GET /_sandbox/callbacks[?task_id=]``: every callback delivery attempt.
- ``POST /_sandbox/reset``: forget all tasks and callbacks and restore the start-up config.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sandbox.state import SandboxState
from orchestrator.sandbox.tasks import Task

PREFIX = "/_sandbox"


def task_summary(state: SandboxState, task: Task, now: float) -> dict[str, Any]:
    return {
        "provider": task.provider,
        "kind": task.kind,
        "task_id": task.task_id,
        "source_task_id": task.source_task_id,
        "model": task.model,
        "prompt": task.prompt,
        "state": task.phase(now).value,
        "created_at": task.created_at,
        "done_at": task.done_at,
        "expires_at": task.expires_at,
        "callback_url": task.callback_url,
        "submit_count": state.tasks.submit_count(task),
    }


def routes(state: SandboxState) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "tasks": len(state.tasks)})

    async def get_config(request: Request) -> Response:
        return JSONResponse(state.config.model_dump())

    async def set_config(request: Request) -> Response:
        try:
            changes = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"detail": "body must be a JSON object"}, status_code=422)
        if not isinstance(changes, dict):
            return JSONResponse({"detail": "body must be a JSON object"}, status_code=422)
        try:
            config = state.configure(changes)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return JSONResponse({"detail": errors}, status_code=422)
        return JSONResponse(config.model_dump())

    async def tasks(request: Request) -> Response:
        now = state.clock()
        listing = state.tasks.listing(request.query_params.get("provider"))
        return JSONResponse([task_summary(state, task, now) for task in listing])

    async def callbacks(request: Request) -> Response:
        return JSONResponse(state.callbacks.attempts(request.query_params.get("task_id")))

    async def reset(request: Request) -> Response:
        await state.reset()
        return JSONResponse({"status": "reset"})

    return [
        Route(PREFIX + "/health", health, methods=["GET"]),
        Route(PREFIX + "/config", get_config, methods=["GET"]),
        Route(PREFIX + "/config", set_config, methods=["POST"]),
        Route(PREFIX + "/tasks", tasks, methods=["GET"]),
        Route(PREFIX + "/callbacks", callbacks, methods=["GET"]),
        Route(PREFIX + "/reset", reset, methods=["POST"]),
    ]
