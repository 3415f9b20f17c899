"""apixo (apixo.ai/docs), served under ``/apixo/api/v1``: docs/providers.md#apixo.

Every body is ``{"code","message","data"}`` with ``code`` mirroring the HTTP status. Status
``data`` has ``state`` (``pending``, ``processing``, ``success``, ``failed``), times in epoch
milliseconds, no progress, and on success ``resultJson``: a JSON-encoded *string* holding
``resultUrls``. Only base (``veo-3-1``) tasks can be extended, and a task is polled under the
model path it was submitted to. With ``request_type: "callback"`` the terminal status body is
POSTed to exactly ``callback_url`` (HTTP 200 within 30 s, else retries after 30 s, 2 min and
10 min). The documented defaults apply to absent fields: ``generationType`` ``TEXT_2_VIDEO``,
``mode`` ``quality`` on a generation and ``fast`` on an extend.

Where the docs are silent the sandbox chooses:

- an unknown, expired or extend task as the source gets the documented 400; a base that is
  still running or failed gets a 400 with its own message;
- ``completeTime``/``costTime`` appear on failures too (as in the webhook example);
- ``FIRST_AND_LAST_FRAMES_2_VIDEO`` fetches the first of ``input.image_urls`` as the video's
  first frame (``images``); one that cannot be fetched or decoded fails the task with
  ``failCode`` ``IMAGE_DOWNLOAD_FAILED``. ``REFERENCE_2_VIDEO`` images are not fetched;
- per-key rate limits are not counted; ``rate_429`` injects random 429s, and
  ``rate_limited``/``out_of_balance`` refuse every submit with 429/402 (``guard``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sandbox import fields
from orchestrator.sandbox.callbacks import RetryPlan
from orchestrator.sandbox.fields import Invalid
from orchestrator.sandbox.guard import Guard
from orchestrator.sandbox.images import FirstFrame
from orchestrator.sandbox.media import base_url_of
from orchestrator.sandbox.state import CallbackRequest, SandboxState
from orchestrator.sandbox.tasks import Kind, Outcome, Phase, Task, fingerprint

NAME = "apixo"
PREFIX = "/apixo/api/v1"
BASE_MODEL = "veo-3-1"
EXTEND_MODEL = "veo-3-1-extend"
MODES = ("quality", "fast")
GENERATE_MODE = "quality"
EXTEND_MODE = "fast"
TEXT_2_VIDEO = "TEXT_2_VIDEO"
FRAMES_2_VIDEO = "FIRST_AND_LAST_FRAMES_2_VIDEO"
REFERENCE_2_VIDEO = "REFERENCE_2_VIDEO"
BAD_SOURCE = "TaskId not found, expired or not a veo-3-1 task."
CALLBACK_PLAN = RetryPlan(
    timeout_s=30.0,
    retry_delays_s=(30.0, 120.0, 600.0),
    accepts=lambda status: status == 200,
    gives_up=lambda status: False,
)
_STATE = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "success",
    Phase.FAILED: "failed",
}


def error(status: int, message: str, data: dict[str, Any] | None = None) -> Response:
    return JSONResponse({"code": status, "message": message, "data": data}, status_code=status)


def invalid(exc: Invalid) -> Response:
    return error(400, "Invalid request", {"error": exc.message})


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def status_body(task: Task, now: float) -> dict[str, Any]:
    phase = task.phase(now)
    data: dict[str, Any] = {
        "taskId": task.task_id,
        "state": _STATE[phase],
        "createTime": _ms(task.created_at),
    }
    if phase is Phase.SUCCEEDED:
        urls = [task.media_url] if task.has_output else []
        data["resultJson"] = json.dumps({"resultUrls": urls}, separators=(",", ":"))
    elif phase is Phase.FAILED and task.outcome is Outcome.IMAGE_FAILED:
        data["failCode"] = "IMAGE_DOWNLOAD_FAILED"
        data["failMsg"] = task.image_error
    elif phase is Phase.FAILED:
        data["failCode"] = "CONTENT_VIOLATION"
        data["failMsg"] = "Content violates usage policy"
    if phase in (Phase.SUCCEEDED, Phase.FAILED):
        data["completeTime"] = _ms(task.done_at)
        data["costTime"] = _ms(task.done_at) - _ms(task.created_at)
    return {"code": 200, "message": "success", "data": data}


def render_status(task: Task, now: float) -> bytes:
    return json.dumps(status_body(task, now), separators=(",", ":")).encode()


def check_envelope(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The ``input`` object and the callback URL (when ``request_type`` is ``callback``)."""
    request_type = fields.text(body, "request_type", choices=("async", "callback"))
    callback_url = fields.url(body, "callback_url")
    if request_type == "callback" and callback_url is None:
        raise Invalid("callback_url", "Missing required field: callback_url")
    fields.text(body, "provider", choices=("auto", "value", "official"))
    if body.get("input") is None:
        raise Invalid("input", "Missing required field: input")
    return fields.mapping(body, "input"), callback_url if request_type == "callback" else None


def check_generation(data: dict[str, Any]) -> tuple[str, str, str | None]:
    """The mode, prompt and first-frame image URL (if any) of a valid generation ``input``;
    raises ``Invalid`` otherwise."""
    mode = fields.text(data, "mode", param="input.mode", choices=MODES) or GENERATE_MODE
    prompt = fields.required_text(data, "prompt", param="input.prompt", max_len=10_000)
    kinds = (TEXT_2_VIDEO, FRAMES_2_VIDEO, REFERENCE_2_VIDEO)
    kind = (
        fields.text(data, "generationType", param="input.generationType", choices=kinds)
        or TEXT_2_VIDEO
    )
    aspect = fields.text(
        data, "aspect_ratio", param="input.aspect_ratio", choices=("16:9", "9:16", "auto")
    )
    images = fields.string_list(data, "image_urls", param="input.image_urls") or []
    fields.boolean(data, "enableTranslation", param="input.enableTranslation")
    fields.text(data, "watermark", param="input.watermark")
    fields.integer(data, "seed", param="input.seed")
    most = {FRAMES_2_VIDEO: 2, REFERENCE_2_VIDEO: 3}.get(kind)
    if most is not None and not 1 <= len(images) <= most:
        raise Invalid("input.image_urls", f"{kind} requires 1 to {most} input.image_urls")
    if kind == REFERENCE_2_VIDEO and (mode != "fast" or aspect not in (None, "16:9")):
        raise Invalid("input.generationType", f"{kind} supports only mode fast at 16:9")
    return mode, prompt, images[0] if kind == FRAMES_2_VIDEO else None


def check_extend(data: dict[str, Any]) -> tuple[str, str, str]:
    """The source task id, mode and prompt of a valid extend ``input``."""
    source_id = fields.required_text(data, "taskId", param="input.taskId")
    mode = fields.text(data, "mode", param="input.mode", choices=MODES) or EXTEND_MODE
    prompt = fields.required_text(data, "prompt", param="input.prompt", max_len=10_000)
    fields.text(data, "watermark", param="input.watermark")
    fields.integer(data, "seed", param="input.seed")
    return source_id, mode, prompt


def extend_source(state: SandboxState, source_id: str) -> Task | Response:
    """The base task to extend, or the documented refusal."""
    source = state.tasks.get(NAME, source_id)
    now = state.clock()
    if source is None or source.kind != "generate" or source.expired(now):
        return error(400, BAD_SOURCE)
    phase = source.phase(now)
    if phase is Phase.FAILED:
        return error(400, "TaskId did not succeed; only successful veo-3-1 tasks can be extended.")
    if phase is not Phase.SUCCEEDED:
        return error(400, "TaskId is still processing; extend it after it succeeds.")
    return source


def routes(state: SandboxState) -> list[Route]:
    guard = Guard(state, NAME, error, server_statuses=(500, 503))

    def accept(
        request: Request,
        body: dict[str, Any],
        callback_url: str | None,
        source: Task | None,
        *,
        mode: str,
        prompt: str,
        first_frame: FirstFrame | None = None,
    ) -> Response:
        kind: Kind = "generate" if source is None else "extend"
        source_id = None if source is None else source.task_id
        prefix = "task_" if source is None else "extend_task_"
        task = state.accept(
            provider=NAME,
            kind=kind,
            task_id=prefix + uuid.uuid4().hex,
            model=BASE_MODEL if source is None else EXTEND_MODEL,
            prompt=prompt,
            base_url=base_url_of(request),
            fingerprint=fingerprint(NAME, kind, source_id, body, "request_type", "callback_url"),
            source=source,
            params={"mode": mode},
            callback=None
            if callback_url is None
            else CallbackRequest(callback_url, CALLBACK_PLAN, render_status),
            first_frame=first_frame,
        )
        return JSONResponse({"code": 200, "message": "success", "data": {"taskId": task.task_id}})

    async def generate(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            data, callback_url = check_envelope(body)
            mode, prompt, url = check_generation(data)
        except Invalid as exc:
            return invalid(exc)
        first_frame = None if url is None else await state.images.first_frame(url)
        return accept(
            request, body, callback_url, None, mode=mode, prompt=prompt, first_frame=first_frame
        )

    async def extend(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            data, callback_url = check_envelope(body)
            source_id, mode, prompt = check_extend(data)
        except Invalid as exc:
            return invalid(exc)
        source = extend_source(state, source_id)
        if isinstance(source, Response):
            return source
        return accept(request, body, callback_url, source, mode=mode, prompt=prompt)

    async def status(request: Request) -> Response:
        if (refusal := await guard.check(request)) is not None:
            return refusal
        model = request.path_params["model"]
        if model not in (BASE_MODEL, EXTEND_MODEL):
            return error(404, f"Model not found: {model}")
        task_id = request.query_params.get("taskId")
        if not task_id:
            return invalid(Invalid("taskId", "Missing required query parameter: taskId"))
        task = state.tasks.get(NAME, task_id)
        if task is None or task.model != model:
            return error(404, "Task not found")
        return JSONResponse(status_body(task, state.clock()))

    return [
        Route(PREFIX + "/generateTask/" + BASE_MODEL, generate, methods=["POST"]),
        Route(PREFIX + "/generateTask/" + EXTEND_MODEL, extend, methods=["POST"]),
        Route(PREFIX + "/statusTask/{model}", status, methods=["GET"]),
    ]
