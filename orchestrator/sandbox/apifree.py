"""apifree (docs.apifree.ai), served under ``/apifree``: docs/providers.md#apifree.

OpenAI-style video objects moving ``queued`` -> ``in_progress`` -> ``completed`` | ``failed``.
Every route also answers under ``/v1/openai/videos``.

Where the docs are silent the sandbox chooses:

- the video URL is ``video_url`` (D5), absent for a no-output success, and
  ``/v1/videos/{id}/content`` serves the video;
- any non-empty ``model`` is accepted (Veo ids are undocumented); a remix without one keeps
  the source's, and answers ``seconds: "8"``;
- errors use the OpenAI shape; a failed task carries ``error.code``
  ``content_policy_violation``; remix sources follow octopusx's rules, and a remix's video is
  the whole video so far;
- JSON bodies only (no multipart uploads).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sandbox import fields
from orchestrator.sandbox.fields import Invalid
from orchestrator.sandbox.guard import Guard
from orchestrator.sandbox.media import base_url_of
from orchestrator.sandbox.openai_like import content_route, error, remix_source
from orchestrator.sandbox.state import SandboxState
from orchestrator.sandbox.tasks import Kind, Phase, Task, fingerprint

NAME = "apifree"
PREFIX = "/apifree"
_STATUS = {
    Phase.QUEUED: "queued",
    Phase.RUNNING: "in_progress",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}


def video_object(task: Task, now: float) -> dict[str, Any]:
    phase = task.phase(now)
    video: dict[str, Any] = {
        "id": task.task_id,
        "object": "video",
        "created_at": int(task.created_at),
        "status": _STATUS[phase],
        "model": task.model,
        "progress": task.progress(now),
        "seconds": task.params["seconds"],
        "size": task.params["size"],
    }
    if phase is Phase.SUCCEEDED:
        video["completed_at"] = int(task.done_at)
        video["expires_at"] = int(task.expires_at)
        if task.has_output:
            video["video_url"] = task.media_url
    elif phase is Phase.FAILED:
        video["completed_at"] = int(task.done_at)
        video["error"] = {
            "code": "content_policy_violation",
            "message": "The request was rejected by the content safety policy",
        }
    return video


def seconds_of(body: dict[str, Any]) -> str:
    value = body.get("seconds")
    if value is None:
        return "8"
    given = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(given, str) or not given.isdecimal() or int(given) == 0:
        raise Invalid("seconds", "seconds must be a positive whole number")
    return given


def check_generation(body: dict[str, Any]) -> dict[str, str]:
    """The echoed parameters of a valid generation body; raises ``Invalid`` otherwise."""
    fields.required_text(body, "model")
    fields.required_text(body, "prompt")
    fields.boolean(body, "stream")
    size = fields.text(body, "size") or "1280x720"
    return {"seconds": seconds_of(body), "size": size}


def routes(state: SandboxState) -> list[Route]:
    guard = Guard(state, NAME, error, server_statuses=(500, 502))

    def accept(
        request: Request,
        body: dict[str, Any],
        model: str,
        params: dict[str, str],
        source: Task | None,
    ) -> Response:
        kind: Kind = "generate" if source is None else "extend"
        source_id = None if source is None else source.task_id
        prefix = "video_" if source is None else "video_remix_"
        task = state.accept(
            provider=NAME,
            kind=kind,
            task_id=prefix + uuid.uuid4().hex,
            model=model,
            prompt=body["prompt"],
            base_url=base_url_of(request),
            fingerprint=fingerprint(NAME, kind, source_id, body),
            source=source,
            params=params,
        )
        created = {
            "id": task.task_id,
            "object": "video",
            "created_at": int(task.created_at),
            "status": "queued",
            "model": task.model,
            "progress": 0,
            "seconds": params["seconds"],
            "size": params["size"],
        }
        return JSONResponse(created)

    async def generate(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            params = check_generation(body)
        except Invalid as exc:
            return error(400, exc.message, param=exc.param)
        return accept(request, body, body["model"], params, None)

    async def remix(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            fields.required_text(body, "prompt")
            model = fields.text(body, "model")
        except Invalid as exc:
            return error(400, exc.message, param=exc.param)
        source = remix_source(state, NAME, request.path_params["video_id"])
        if isinstance(source, Response):
            return source
        params = {"seconds": "8", "size": source.params["size"]}
        return accept(request, body, model or source.model, params, source)

    async def status(request: Request) -> Response:
        if (refusal := await guard.check(request)) is not None:
            return refusal
        task = state.tasks.get(NAME, request.path_params["video_id"])
        if task is None:
            return error(404, "Video not found", code="video_not_found")
        return JSONResponse(video_object(task, state.clock()))

    routes: list[Route] = []
    for base in ("/v1/videos", "/v1/openai/videos"):
        routes += [
            Route(PREFIX + base, generate, methods=["POST"]),
            Route(PREFIX + base + "/{video_id}", status, methods=["GET"]),
            Route(PREFIX + base + "/{video_id}/remix", remix, methods=["POST"]),
        ]
    routes.append(content_route(PREFIX + "/v1/videos/{video_id}/content", NAME, state, guard))
    return routes
