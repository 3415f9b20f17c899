"""The stream a dashboard page listens to: the API's event stream, each event an unnamed SSE
message so one ``EventSource.onmessage`` gets them all. It runs only while a page is open."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from orchestrator.api.services import services
from orchestrator.api.stream import PIPELINE_ID, event_stream, resume_cursor


async def events(request: Request) -> Response:
    serving = services(request)
    pipeline_id = PIPELINE_ID.read(request)
    if pipeline_id is not None:
        await serving.operations.get(pipeline_id)  # 404 for an unknown pipeline
    cursor = resume_cursor(request)
    if cursor is None:
        cursor = await serving.store.last_event_id()
    return StreamingResponse(
        event_stream(serving.store, pipeline_id, cursor, named=False),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
