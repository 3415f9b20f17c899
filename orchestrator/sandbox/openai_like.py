"""What octopusx and apifree share, both imitating the OpenAI Videos API (docs/providers.md).

The error body ``{"error":{"message","type","param","code"}}`` (an empty balance is 402 with
OpenAI's ``insufficient_quota`` as type and code), the rules for a remix source,
and ``GET /v1/videos/{id}/content``, which needs the Bearer key, is not subject to injected
faults, and serves the same bytes as the result link (404 until the task succeeded, 410 after
the link expired).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.sandbox.guard import Guard
from orchestrator.sandbox.media import availability, video_response
from orchestrator.sandbox.state import SandboxState
from orchestrator.sandbox.tasks import MAX_EXTEND_HOPS, Phase, Task

_KINDS = {
    400: ("invalid_request_error", "invalid_value"),
    401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_quota"),
    404: ("invalid_request_error", "not_found"),
    410: ("invalid_request_error", "expired"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}


def error(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> Response:
    kind, default_code = _KINDS.get(status, ("server_error", "server_error"))
    body = {"message": message, "type": kind, "param": param, "code": code or default_code}
    return JSONResponse({"error": body}, status_code=status)


def remix_source(state: SandboxState, provider: str, video_id: str) -> Task | Response:
    """The task to remix, or the refusal saying why it cannot be remixed now."""
    source = state.tasks.get(provider, video_id)
    if source is None:
        return error(404, "Video not found", code="video_not_found")
    now = state.clock()
    phase = source.phase(now)
    if source.expired(now):
        return error(404, "Video has expired", code="video_expired")
    if phase is Phase.FAILED:
        return error(400, "Video generation failed; it cannot be remixed", code="invalid_source")
    if phase is not Phase.SUCCEEDED:
        return error(400, "Video is not yet completed", code="video_not_ready")
    if source.depth >= MAX_EXTEND_HOPS:
        return error(400, f"Video cannot be extended more than {MAX_EXTEND_HOPS} times")
    return source


def content_route(path: str, provider: str, state: SandboxState, guard: Guard) -> Route:
    async def content(request: Request) -> Response:
        if not guard.authorized(request):
            return guard.unauthorized()
        variant = request.query_params.get("variant", "video")
        if variant != "video":
            return error(400, "Only variant=video is available", param="variant")
        task = state.tasks.get(provider, request.path_params["video_id"])
        if task is None:
            return error(404, "Video not found", code="video_not_found")
        status = availability(task, state.clock())
        if status == 404:
            return error(404, "Video content is not available", code="video_not_ready")
        if status == 410:
            return error(410, "Video content has expired", code="video_expired")
        return video_response(request, await state.videos.get(task.video))

    return Route(path, content, methods=["GET", "HEAD"])
