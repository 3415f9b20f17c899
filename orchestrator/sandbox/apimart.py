"""apimart (docs.apimart.ai), served under ``/apimart``: docs/providers.md#apimart.

Submit and remix answer ``{"code":200,"data":[{"status":"submitted","task_id":...}]}``; status
answers ``{"code":200,"data":{...}}`` with ``status`` ``pending``, ``processing``,
``completed`` or ``failed``. ``result.videos[].url`` is a string for odd-numbered tasks and a
one-element list for even ones, so adapters meet both shapes integrations report. Errors are
``{"error":{"code","message","type"}}`` with the HTTP status equal to ``code``. A ``webhook``
base URL gets the terminal status POSTed to it + ``/callback`` (10 s timeout; retries after
10, 30 and 60 s on timeout or 5xx; any 4xx ends delivery).

Where the docs are silent the sandbox chooses:

- a failed task carries ``error: {"code": "content_policy_violation", "message": ...}``, or
  ``"image_download_failed"`` when its first-frame image (``first_frame_image`` on the
  ``-official`` models, the first of ``image_urls`` on the others; ``images``) could not be
  fetched or decoded; a no-output success carries ``result.videos: []``;
- a remix's video is the whole video so far, or with ``raw: true`` only the 7 s it adds;
- ``resolution`` takes ``4k`` or ``4K`` on generation (the two pages disagree on the case);
- a remix source that is unknown, or whose result link expired, is 404 "Video not found"; one
  not yet ``completed`` or failed is 400, as is a model other than the source's and a chain
  longer than 20 extends (D4). Only ``veo3.1-fast``/``veo3.1-quality`` remix, so ``-official``
  tasks cannot be extended (D3).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
from orchestrator.sandbox.tasks import MAX_EXTEND_HOPS, Kind, Outcome, Phase, Task, fingerprint

NAME = "apimart"
PREFIX = "/apimart"
STANDARD_MODELS = ("veo3.1-fast", "veo3.1-quality")
OFFICIAL_MODELS = ("veo3.1-fast-official", "veo3.1-quality-official")
ASPECT_RATIOS = ("16:9", "9:16")
RESOLUTIONS = ("720p", "1080p", "4k", "4K")
CALLBACK_PLAN = RetryPlan(
    timeout_s=10.0,
    retry_delays_s=(10.0, 30.0, 60.0),
    accepts=lambda status: 200 <= status < 300,
    gives_up=lambda status: 400 <= status < 500,
)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "payment_required",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "bad_gateway",
}
_STATUS = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "completed",
    Phase.FAILED: "failed",
}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def error(status: int, message: str) -> Response:
    body = {"code": status, "message": message, "type": _ERROR_TYPES.get(status, "server_error")}
    return JSONResponse({"error": body}, status_code=status)


def task_id(now: float) -> str:
    """``task_`` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32)."""
    value = (int(now * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "task_" + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def callback_url(webhook: str) -> str:
    """The delivery URL: ``/callback`` appended to the path, ``x.com/`` and ``x.com`` alike."""
    parts = urlsplit(webhook)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/callback"))


def status_body(task: Task, now: float) -> dict[str, Any]:
    phase = task.phase(now)
    data: dict[str, Any] = {
        "id": task.task_id,
        "status": _STATUS[phase],
        "progress": task.progress(now),
        "created": int(task.created_at),
        "estimated_time": round(task.done_at - task.created_at),
    }
    if phase is Phase.SUCCEEDED:
        data["completed"] = int(task.done_at)
        data["actual_time"] = round(task.done_at - task.created_at)
        videos: list[dict[str, Any]] = []
        if task.has_output:
            url: str | list[str] = task.media_url if task.number % 2 else [task.media_url]
            videos.append({"url": url, "expires_at": int(task.expires_at)})
        data["result"] = {"videos": videos}
    elif phase is Phase.FAILED and task.outcome is Outcome.IMAGE_FAILED:
        data["error"] = {"code": "image_download_failed", "message": task.image_error}
    elif phase is Phase.FAILED:
        data["error"] = {
            "code": "content_policy_violation",
            "message": "The prompt was blocked by the content safety policy",
        }
    return {"code": 200, "data": data}


def render_status(task: Task, now: float) -> bytes:
    return json.dumps(status_body(task, now), separators=(",", ":")).encode()


def check_generation(body: dict[str, Any]) -> tuple[str, str]:
    """The model and prompt of a valid generation body; raises ``Invalid`` otherwise."""
    model = fields.required_text(body, "model", choices=STANDARD_MODELS + OFFICIAL_MODELS)
    prompt = fields.required_text(body, "prompt")
    durations = (4, 6, 8) if model in OFFICIAL_MODELS else (8,)
    fields.integer(body, "duration", choices=durations)
    fields.text(body, "aspect_ratio", choices=ASPECT_RATIOS)
    fields.text(body, "resolution", choices=RESOLUTIONS)
    if fields.boolean(body, "enhance_prompt") is False:
        raise Invalid("enhance_prompt", "enhance_prompt can only be true; omit it instead")
    fields.integer(body, "seed", low=0, high=4_294_967_295)
    fields.integer(body, "sample_count", low=1, high=4)
    fields.boolean(body, "generate_audio")
    fields.text(body, "person_generation", choices=("allow_adult", "disallow"))
    fields.text(body, "resize_mode", choices=("pad", "crop"))
    fields.text(body, "negative_prompt")
    fields.string_list(body, "image_urls")
    if fields.text(body, "last_frame_image") and not fields.text(body, "first_frame_image"):
        raise Invalid("last_frame_image", "last_frame_image requires first_frame_image")
    fields.url(body, "webhook")
    return model, prompt


def first_frame_url(body: dict[str, Any], model: str) -> str | None:
    """The first-frame image of a valid generation body, if it names one."""
    if model in OFFICIAL_MODELS:
        url: str | None = body.get("first_frame_image") or None
        return url
    return next(iter(body.get("image_urls") or ()), None)


def check_remix(body: dict[str, Any]) -> tuple[str, str]:
    model = fields.required_text(body, "model", choices=STANDARD_MODELS)
    prompt = fields.required_text(body, "prompt")
    fields.boolean(body, "raw")
    fields.text(body, "aspect_ratio", choices=ASPECT_RATIOS)
    fields.text(body, "resolution", choices=("720p", "1080p", "4k"))
    fields.url(body, "webhook")
    return model, prompt


def remix_source(state: SandboxState, task_id: str, model: str) -> Task | Response:
    """The task to extend, or the refusal saying why it cannot be extended with ``model``."""
    source = state.tasks.get(NAME, task_id)
    now = state.clock()
    if source is None or source.expired(now):
        return error(404, "Video not found")
    if model != source.model:
        return error(400, f"model must match the original video's model ({source.model})")
    phase = source.phase(now)
    if phase is Phase.FAILED:
        return error(400, "The original video task failed; it cannot be remixed")
    if phase is not Phase.SUCCEEDED:
        return error(400, "The original video task status must be success")
    if source.depth >= MAX_EXTEND_HOPS:
        return error(400, f"The video cannot be extended more than {MAX_EXTEND_HOPS} times")
    return source


def routes(state: SandboxState) -> list[Route]:
    guard = Guard(state, NAME, error, server_statuses=(500, 502))

    def accept(
        request: Request,
        body: dict[str, Any],
        model: str,
        prompt: str,
        source: Task | None,
        *,
        first_frame: FirstFrame | None = None,
    ) -> Response:
        webhook = body.get("webhook")
        callback = None
        if webhook:
            callback = CallbackRequest(callback_url(webhook), CALLBACK_PLAN, render_status)
        kind: Kind = "generate" if source is None else "extend"
        source_id = None if source is None else source.task_id
        task = state.accept(
            provider=NAME,
            kind=kind,
            task_id=task_id(state.clock()),
            model=model,
            prompt=prompt,
            base_url=base_url_of(request),
            fingerprint=fingerprint(NAME, kind, source_id, body, "webhook"),
            source=source,
            callback=callback,
            first_frame=first_frame,
            raw=source is not None and body.get("raw") is True,
        )
        return JSONResponse(
            {"code": 200, "data": [{"status": "submitted", "task_id": task.task_id}]}
        )

    async def generate(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            model, prompt = check_generation(body)
        except Invalid as exc:
            return error(400, exc.message)
        url = first_frame_url(body, model)
        first_frame = None if url is None else await state.images.first_frame(url)
        return accept(request, body, model, prompt, None, first_frame=first_frame)

    async def remix(request: Request) -> Response:
        if (refusal := await guard.check(request, submit=True)) is not None:
            return refusal
        try:
            body = await fields.json_object(request)
            model, prompt = check_remix(body)
        except Invalid as exc:
            return error(400, exc.message)
        source = remix_source(state, request.path_params["task_id"], model)
        if isinstance(source, Response):
            return source
        return accept(request, body, model, prompt, source)

    async def status(request: Request) -> Response:
        if (refusal := await guard.check(request)) is not None:
            return refusal
        task = state.tasks.get(NAME, request.path_params["task_id"])
        if task is None:
            return error(404, "Task not found")
        return JSONResponse(status_body(task, state.clock()))

    return [
        Route(PREFIX + "/v1/videos/generations", generate, methods=["POST"]),
        Route(PREFIX + "/v1/videos/{task_id}/remix", remix, methods=["POST"]),
        Route(PREFIX + "/v1/tasks/{task_id}", status, methods=["GET"]),
    ]
