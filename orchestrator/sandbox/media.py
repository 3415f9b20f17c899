"""Result links: each successful task's own small, real, playable MP4 (see ``video``).

Result links are ``/_sandbox/media/{token}.mp4`` on the base URL the task was submitted to. Like
a CDN link they need no key; they answer 404 until the task has succeeded and 410 once its
``expires_at`` has passed. Single byte ranges are honoured (206/416); a multi-range or malformed
``Range`` header gets the whole file, as RFC 9110 allows. The MP4 is made on the first
download and kept for the next ones (``renders``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orchestrator.sandbox.state import SandboxState
from orchestrator.sandbox.tasks import MEDIA_PREFIX, Phase, Task


class RangeNotSatisfiable(Exception):
    pass


def base_url_of(request: Request) -> str:
    """Scheme, host and root path the request arrived at, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` bytes asked for, or ``None`` to send everything."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, dash, last_text = header[6:].strip().partition("-")
    if not dash or not (first_text + last_text).isdecimal():
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    last = min(int(last_text), size - 1) if last_text else size - 1
    return first, last


def video_response(request: Request, data: bytes) -> Response:
    """``data`` as the answer to ``request``: all of it, or the byte range it asked for."""
    size = len(data)
    headers = {"accept-ranges": "bytes"}
    try:
        span = byte_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        headers["content-range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if span is None:
        return Response(data, media_type="video/mp4", headers=headers)
    first, last = span
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return Response(
        data[first : last + 1], status_code=206, media_type="video/mp4", headers=headers
    )


def availability(task: Task, now: float) -> int:
    """200 when the task's video can be downloaded now, else 404 (not ready) or 410 (expired)."""
    if task.phase(now) is not Phase.SUCCEEDED:
        return 404
    return 410 if now >= task.expires_at else 200


def routes(state: SandboxState) -> list[Route]:
    async def media(request: Request) -> Response:
        task = state.tasks.by_media_token(request.path_params["token"])
        status = 404 if task is None else availability(task, state.clock())
        if task is None or status == 404:
            return PlainTextResponse("Not Found", status_code=404)
        if status == 410:
            return PlainTextResponse("Gone: this result link has expired", status_code=410)
        return video_response(request, await state.videos.get(task.video))

    return [Route(MEDIA_PREFIX + "{token}.mp4", media, methods=["GET", "HEAD"])]
