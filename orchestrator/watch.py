"""``reelay watch``: follow a pipeline's events live over the SSE stream, resuming after drops."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import httpx

from orchestrator.client import ApiClient, ApiError

FINAL = {"pipeline.succeeded", "pipeline.failed", "pipeline.cancelled"}
_RECONNECT_S = 1.0


def describe(event: dict[str, Any]) -> str:
    data = event.get("data", {})
    where = f"step {event['step']}" if event.get("step") is not None else "pipeline"
    detail = ""
    if data.get("progress") and event["type"] == "step.running":
        detail = f" {data['progress']}%"
    if data.get("error"):
        detail = f" [{data['error']['code']}] {data['error']['message']}"
    elif event["type"] == "step.succeeded" and data.get("video_urls"):
        detail = f" {data['video_urls'][0]}"
    return f"#{event['seq']:<3} {event['type']:<20} {where}{detail}"


async def _messages(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")


async def watch_events(client: ApiClient, pipeline_id: str, *, out: TextIO | None = None) -> str:
    """Print events until the pipeline finishes; returns its final status."""
    out = out or sys.stdout
    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with client.stream(
                f"/v1/events/stream?pipeline_id={pipeline_id}", headers
            ) as response:
                async for message in _messages(response):
                    if "data" not in message:
                        continue
                    event = json.loads(message["data"])
                    last_id = message.get("id", last_id)
                    out.write(describe(event) + "\n")
                    out.flush()
                    if event["type"] in FINAL:
                        return str(event["type"]).split(".", 1)[1]
        except httpx.TransportError:
            await asyncio.sleep(_RECONNECT_S)  # resume where we were with Last-Event-ID
        except ApiError:
            raise
