"""octopusx (docs.octopusx.ai), served under ``/octopusx``: docs/providers.md#octopusx.

OpenAI-style video objects: ``seconds`` is a string, ``completed_at`` is 0 and ``error`` holds
empty strings until the task ends, ``video_url`` is ``""`` until it succeeds, and
``remixed_from_video_id`` names an extend's source. Statuses are the documented ``queued``,
``processing``, ``completed`` and ``failed``. ``/v1/videos/{id}/content`` serves the video.

Where the docs are silent the sandbox chooses:

- JSON bodies only (no multipart uploads); errors use the OpenAI shape;
- remix takes the models ``veo_3_1-extend``, ``veo_3_1`` and ``veo_3_1-fast`` (D3) and answers
  ``seconds: "8"`` like the docs' example, keeping the source's ``size``;
- ``expires_at`` is always completion + ``url_ttl_s``, the moment the result link really dies;
- a remix source that is unknown or expired is 404; one still running (``video_not_ready``),
  failed (``invalid_source``) or 20 extends deep (D4) is 400;
- ``input_reference`` (a URL, or a list whose first URL counts) is fetched as the video's first
  frame (``images``); one that cannot be fetched or decoded fails the task with
  ``error.code`` ``image_download_failed``. A remix's video is the whole video so far.
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
from orchestrator.sandbox.images import FirstFrame
from orchestrator.sandbox.media import base_url_of
from orchestrator.sandbox.openai_like import content_route, error, remix_source
from orchestrator.sandbox.state import SandboxState
from orchestrator.sandbox.tasks import Kind, Outcome, Phase, Task, fingerprint

NAME = "octopusx"
PREFIX = "/octopusx"
MODELS = ("veo_3_1", "veo_3_1-fast")
REMIX_MODELS = ("veo_3_1-extend", *MODELS)
SIZES = ("720x1280", "1280x720")
DURATIONS = ("4", "6", "8")
_STATUS = {
    Phase.QUEUED: "queued",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}


def video_object(task: Task, now: float) -> dict[str, Any]:
    phase = task.phase(now)
    finished = phase in (Phase.SUCCEEDED, Phase.FAILED)
    failed = phase is Phase.FAILED
    message, code = "", ""
    if failed and task.outcome is Outcome.IMAGE_FAILED:
        message, code = task.image_error or "", "image_download_failed"
    elif failed:
        message, code = "Content blocked by the safety policy", "content_policy_violation"
    return {
        "id": task.task_id,
        "object": "video",
        "model": task.model,
        "status": _STATUS[phase],
        "progress": task.progress(now),
        "created_at": int(task.created_at),
        "completed_at": int(task.done_at) if finished else 0,
        "expires_at": int(task.expires_at),
        "seconds": task.params["seconds"],
        "size": task.params["size"],
        "remixed_from_video_id": task.source_task_id or "",
        "error": {"message": message, "code": code},
        "video_url": task.media_url if phase is Phase.SUCCEEDED and task.has_output else "",
    }


def seconds_of(body: dict[str, Any]) -> str:
    """The duration from ``seconds``, ``duration`` or ``metadata.durationSeconds``, as a string."""
    metadata = fields.mapping(body, "metadata")
    for param, value in (
        ("seconds", body.get("seconds")),
        ("duration", body.get("duration")),
        ("metadata.durationSeconds", metadata.get("durationSeconds")),
    ):
        if value is None:
            continue
        given = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if given not in DURATIONS:
            raise Invalid(param, f"{param} must be one of: {', '.join(DURATIONS)}")
        return str(given)
    return "8"


def first_frame_url(body: dict[str, Any]) -> str | None:
    """The ``input_reference`` of a valid generation body: a URL, or a list's first."""
    reference = body.get("input_reference")
    if isinstance(reference, list):
        reference = next(iter(reference), None)
    return reference or None


def check_generation(body: dict[str, Any]) -> dict[str, str]:
    """The echoed parameters of a valid generation body; raises ``Invalid`` otherwise."""
    fields.required_text(body, "model", choices=MODELS)
    fields.required_text(body, "prompt")
    fields.boolean(body, "enable_upsample")
    reference = body.get("input_reference")
    if reference is not None and not isinstance(reference, str):
        fields.string_list(body, "input_reference")
    seconds = seconds_of(body)
    size = fields.text(body, "size", choices=SIZES)
    if size is None:
        output = fields.mapping(fields.mapping(body, "metadata"), "output_config")
        size = "720x1280" if output.get("aspect_ratio") == "9:16" else "1280x720"
    return {"seconds": seconds, "size": size}


def routes(state: SandboxState) -> list[Route]:
    guard = Guard(state, NAME, error, server_statuses=(500, 502, 503))

    def accept(
        request: Request,
        body: dict[str, Any],
        params: dict[str, str],
        source: Task | None,
        first_frame: FirstFrame | None = None,
    ) -> Task:
        kind: Kind = "generate" if source is None else "extend"
        source_id = None if source is None else source.task_id
        return state.accept(
            provider=NAME,
            kind=kind,
            task_id=f"video_{uuid.uuid4()}",
            model=body["model"],
            prompt=body["prompt"],
            base_url=base_url_of(request),
            fingerprint=fingerprint(NAME, kind, source_id, body),
            source=source,
            params=params,
            first_frame=first_frame,
        )

    def created(task: Task) -> dict[str, Any]:
        return {
            "id": task.task_id,
            "object": "video",
            "model": task.model,
            "status": "queued",
            "progress": 0,
            "created_at": int(task.created_at),
            "seconds": task.params["seconds"],
            "size": task.params["size"],
        }

    async def generate(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            params = check_generation(body)
        except Invalid as exc:
            return error(400, exc.message, param=exc.param)
        url = first_frame_url(body)
        first_frame = None if url is None else await state.images.first_frame(url)
        return JSONResponse(created(accept(request, body, params, None, first_frame)))

    async def remix(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            fields.required_text(body, "prompt")
            fields.required_text(body, "model", choices=REMIX_MODELS)
        except Invalid as exc:
            return error(400, exc.message, param=exc.param)
        source = remix_source(state, NAME, request.path_params["video_id"])
        if isinstance(source, Response):
            return source
        task = accept(request, body, {"seconds": "8", "size": source.params["size"]}, source)
        response = created(task) | {"remixed_from_video_id": source.task_id, "quality": ""}
        return JSONResponse(response)

    async def status(request: Request) -> Response:
        if (refusal := await guard.check(request)) is not None:
            return refusal
        task = state.tasks.get(NAME, request.path_params["video_id"])
        if task is None:
            return error(404, "Video not found", code="video_not_found")
        return JSONResponse(video_object(task, state.clock()))

    return [
        Route(PREFIX + "/v1/videos", generate, methods=["POST"]),
        Route(PREFIX + "/v1/videos/{video_id}", status, methods=["GET"]),
        Route(PREFIX + "/v1/videos/{video_id}/remix", remix, methods=["POST"]),
        content_route(PREFIX + "/v1/videos/{video_id}/content", NAME, state, guard),
    ]
