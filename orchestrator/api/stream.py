"""``GET /v1/events/stream``: server-sent events, live, resumable with ``Last-Event-ID``.

Each event's SSE id is its global event id. A stream for one pipeline starts with its whole
history unless resumed; the stream of all pipelines starts at the newest event. The stream
wakes on every committed write, and sends a comment every 15 s so idle proxies keep it open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from orchestrator.api.params import Bounded, Param
from orchestrator.api.pipeline_routes import ops
from orchestrator.api.schemas import event_out
from orchestrator.api.services import services
from orchestrator.errors import BadRequest
from orchestrator.store import Store

KEEPALIVE_S = 15.0
_BATCH = 500


PIPELINE_ID = Param("pipeline_id")
AFTER = Bounded("after", default=0, low=0, high=2**62)
LAST_EVENT_ID = Param("Last-Event-ID", where="header")


def resume_cursor(request: Request) -> int | None:
    """Where to resume: ``Last-Event-ID`` (a reconnecting browser sends it), else ``after``."""
    raw = LAST_EVENT_ID.raw(request)
    if not raw:
        return AFTER.read(request) if AFTER.name in request.query_params else None
    if not raw.isdecimal():
        raise BadRequest("Last-Event-ID must be an event id (an integer)", field="Last-Event-ID")
    return int(raw)


async def stream_events(request: Request) -> Response:
    store = services(request).store
    pipeline_id = PIPELINE_ID.read(request)
    if pipeline_id is not None:
        await ops(request).get(pipeline_id)  # 404 for an unknown pipeline
    cursor = resume_cursor(request)
    if cursor is None:
        cursor = 0 if pipeline_id is not None else await store.last_event_id()
    return StreamingResponse(
        event_stream(store, pipeline_id, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def event_stream(
    store: Store, pipeline_id: str | None, cursor: int, *, named: bool = True
) -> AsyncIterator[str]:
    """The SSE text of every event after ``cursor``, then each new one as it is committed.
    ``named``: each carries its type as the SSE event name (else every event is a "message",
    which one ``EventSource.onmessage`` receives)."""
    changed = asyncio.Event()
    store.add_commit_listener(changed.set)
    try:
        yield ": reelay event stream\n\n"
        while True:
            changed.clear()
            events = await store.events_after(cursor, pipeline_id, _BATCH)
            for event in events:
                data = event_out(event).model_dump_json()
                name = f"event: {event.type}\n" if named else ""
                yield f"id: {event.id}\n{name}data: {data}\n\n"
                cursor = event.id
            if len(events) == _BATCH:
                continue
            try:
                await asyncio.wait_for(changed.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        with contextlib.suppress(ValueError):
            store.remove_commit_listener(changed.set)
