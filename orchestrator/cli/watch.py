"""``reelay watch``: follow a pipeline's events live over the SSE stream, resuming after drops."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import httpx

from orchestrator.cli.client import ApiClient, Patience, Unreachable
from orchestrator.cli.progress import FINISHED, settled

FINAL = {"pipeline.succeeded", "pipeline.failed", "pipeline.cancelled"}
AUDIT = "action."
"""The audit events' prefix: an action's record follows its change, and changes nothing."""


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
    elif event["type"].startswith(AUDIT):
        detail = f" by {data.get('actor')}" + (f": {data['reason']}" if data.get("reason") else "")
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


async def watch_events(
    client: ApiClient,
    pipeline_id: str,
    *,
    out: TextIO | None = None,
    patience: Patience | None = None,
) -> str:
    """Print the pipeline's events until it ends; returns its final status ("held" when it
    waits on an operator). A terminal event ends the watch only if it is the pipeline's latest
    event: after an extend, a finished pipeline runs again, and its old end is history."""
    out = out or sys.stdout
    patience = patience or Patience()
    last_id: str | None = None
    shown = 0
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with client.stream(
                f"/v1/events/stream?pipeline_id={pipeline_id}", headers
            ) as response:
                patience.ok()
                async for message in _messages(response):
                    if "data" not in message:
                        continue
                    event = json.loads(message["data"])
                    if event["seq"] > shown:
                        out.write(describe(event) + "\n")
                        out.flush()
                        shown = event["seq"]
                    ended = await _ended(client, pipeline_id, event)
                    last_id = message.get("id", last_id)  # after the check: a drop replays it
                    if ended is not None:
                        status, audits = ended
                        for audit in audits:  # who ended it, and why
                            out.write(describe(audit) + "\n")
                        out.flush()
                        return status
        except (Unreachable, httpx.TransportError) as exc:
            await patience.wait(exc)  # then resume where we were with Last-Event-ID


async def _ended(
    client: ApiClient, pipeline_id: str, event: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]] | None:
    """The pipeline's final status if ``event`` ends the watch, with the audit events that
    follow it; else None. Only a change after it goes on, not the record of an action."""
    if event["type"] in FINAL:
        later = await client.request(
            "GET",
            f"/v1/pipelines/{pipeline_id}/events",
            params={"after": event["seq"], "limit": 100},
        )
        if any(not str(e["type"]).startswith(AUDIT) for e in later["items"]):
            return None
        return str(event["type"]).split(".", 1)[1], later["items"]
    if event["type"] == "step.ambiguous":
        pipeline = await client.get(pipeline_id)
        if pipeline["status"] not in FINISHED and settled(pipeline):
            return "held", []
    return None
