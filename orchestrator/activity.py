"""What ``reelay serve`` says about pipelines at info level, one line per step that matters.

It reads the durable event log after each commit that appended events (a store commit
listener), so the engine and the API log nothing of their own for it and every path that
changes a pipeline is covered. On PostgreSQL with several replicas the event log is shared, so
each replica's log tells the activity of all of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from orchestrator.common import logs
from orchestrator.domain.models import Event
from orchestrator.store import Store

log = logging.getLogger("reelay.activity")

_BATCH = 500
_PROVIDERS_KEPT = 10_000


def describe(event: Event) -> tuple[int, str] | None:
    """The level and message of ``event``'s line, or None for an event not worth a line."""
    data = event.data
    error = data.get("error") or {}
    reason = f": [{error.get('code')}] {error.get('message')}" if error else ""
    match event.type:
        case "pipeline.created":
            return logging.INFO, "pipeline created"
        case "step.added":
            return logging.INFO, f"step {event.step} added"
        case "step.submitted":
            return logging.INFO, f"step {event.step} submitted, task {data.get('provider_task_id')}"
        case "step.succeeded":
            return logging.INFO, f"step {event.step} succeeded"
        case "step.failed":
            return logging.INFO, f"step {event.step} failed{reason}"
        case "step.ambiguous":
            return logging.WARNING, f"step {event.step} held (ambiguous){reason}"
        case "pipeline.succeeded" | "pipeline.cancelled":
            return logging.INFO, f"pipeline {event.type.removeprefix('pipeline.')}"
        case "pipeline.failed":
            return logging.INFO, f"pipeline failed{reason}"
    return None


class ActivityLog:
    """Register ``wake`` as a commit listener; ``after`` is the newest event already told."""

    def __init__(self, store: Store, after: int) -> None:
        self._store = store
        self._cursor = after
        self._providers: OrderedDict[str, str] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        if not log.isEnabledFor(logging.INFO):
            return  # nobody would read the lines: spare the store the reads
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        else:
            self._again = True

    async def _drain(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                while True:
                    events = await self._store.events_after(self._cursor, None, _BATCH)
                    for event in events:
                        await self._tell(event)
                        self._cursor = event.id
                    if len(events) < _BATCH:
                        break
            except Exception as exc:  # the store is down or closing: the next commit retries
                log.debug("activity log paused: %s", exc)
                return

    async def _tell(self, event: Event) -> None:
        line = describe(event)
        if line is None:
            return
        level, message = line
        provider = await self._provider(event)
        extra = logs.context(pipeline_id=event.pipeline_id, step=event.step, provider=provider)
        log.log(level, message, extra=extra)

    async def _provider(self, event: Event) -> str | None:
        pid = event.pipeline_id
        provider = event.data.get("provider") if event.type.startswith("pipeline.") else None
        if provider is None:
            provider = self._providers.get(pid)
        if provider is None:
            view = await self._store.get(pid)
            provider = view.pipeline.provider if view is not None else None
        if provider is not None:
            self._providers[pid] = provider
            self._providers.move_to_end(pid)
            if len(self._providers) > _PROVIDERS_KEPT:
                self._providers.popitem(last=False)
        return provider
