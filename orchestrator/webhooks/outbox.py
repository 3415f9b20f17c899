"""The outbox: which webhook messages an event produces, written in the event's transaction.

Bodies are fixed when the message is written, so every retry sends the same bytes under the
same ``webhook-id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.models import Event, Pipeline
from orchestrator.domain.webhooks import (
    DEFAULT_EVENT_TYPES,
    PIPELINE_DESTINATION,
    Endpoint,
    Message,
    MessageStatus,
    new_id,
)


def body(event: Event) -> str:
    """The Standard Webhooks JSON body: ``{"type", "timestamp", "data"}``."""
    data: dict[str, Any] = {"pipeline_id": event.pipeline_id, "seq": event.seq}
    if event.step is not None:
        data["step"] = event.step
    data.update(event.data)
    stamp = datetime.fromtimestamp(event.created_at, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event.type, "timestamp": stamp, "data": data}, separators=(",", ":"))


def messages_for(
    events: Sequence[Event],
    pipelines: Mapping[str, Pipeline],
    endpoints: Sequence[Endpoint],
    now: float,
) -> list[Message]:
    messages: list[Message] = []
    for event in events:
        pipeline = pipelines[event.pipeline_id]
        targets = []
        if pipeline.webhook_url and event.type in DEFAULT_EVENT_TYPES:
            targets.append((PIPELINE_DESTINATION, pipeline.webhook_url))
        targets += [(e.id, e.url) for e in endpoints if e.enabled and e.wants(event.type)]
        for destination, url in targets:
            messages.append(
                Message(
                    id=new_id("msg", now),
                    destination=destination,
                    url=url or "",
                    pipeline_id=event.pipeline_id,
                    seq=event.seq,
                    type=event.type,
                    payload=body(event),
                    status=MessageStatus.PENDING,
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    return messages
