"""What a change of pipelines implies, worked out once: the rows to write, the events that
tell it (numbered), the webhook messages they send, the videos to download, the media jobs
(last frames, whole videos) and the ledger rows the steps' money moves.

``implied`` is pure; ``commit_transition`` is the one place that hands its result to the
store, inside the caller's transaction. The store writes what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from orchestrator.artifacts.jobs import MediaWork, downloads_for, media_for
from orchestrator.domain import ledger
from orchestrator.domain import pipelines as pipeline_rules
from orchestrator.domain.artifacts import Download
from orchestrator.domain.models import Event, EventDraft, Pipeline, PipelineView, Step
from orchestrator.domain.webhooks import Endpoint, Message
from orchestrator.store import Transaction
from orchestrator.webhooks.outbox import messages_for

MEDIA_WAIT_S = 30.0
"""A new media job's first look: sooner when the download it waits for is recorded (the
downloader makes the pipeline's media jobs due), this late at most."""

Change = tuple[PipelineView | None, PipelineView]
"""(before, after) of one pipeline; ``before`` is None for a new pipeline."""


@dataclass(frozen=True, slots=True)
class Implied:
    new_pipelines: tuple[Pipeline, ...]
    changed_pipelines: tuple[Pipeline, ...]
    """Every pipeline of the change that is not new (its event count at least moves)."""
    new_steps: tuple[Step, ...]
    changed_steps: tuple[Step, ...]
    events: tuple[Event, ...]
    """Numbered per pipeline after its last event; ``id`` is left to the database (0)."""
    outbox: tuple[Message, ...]
    downloads: tuple[Download, ...]
    media: tuple[MediaWork, ...]
    ledger: tuple[ledger.LedgerChange, ...]


def implied(
    changes: Iterable[Change],
    now: float,
    endpoints: Sequence[Endpoint] = (),
    extra: Iterable[EventDraft] = (),
) -> Implied:
    """What ``changes`` imply, given the enabled webhook ``endpoints``.

    Events: each change's (``pipelines.events_between``, then its ``cost.*`` events), in
    order, then ``extra`` ones that the change alone cannot tell (an overdue task, a stored
    video), as given. Each names a pipeline among ``changes``.
    """
    changes = list(changes)
    pipelines: dict[str, Pipeline] = {}
    created: set[str] = set()
    new_steps: list[Step] = []
    changed_steps: list[Step] = []
    drafts: list[EventDraft] = []
    moves: list[ledger.LedgerChange] = []
    for before, after in changes:
        old_steps = {s.index: s for s in before.steps} if before else {}
        costs: list[EventDraft] = []
        for step in after.steps:
            old = old_steps.get(step.index)
            if old is None:
                new_steps.append(step)
            elif old != step:
                changed_steps.append(step)
                moves += ledger.ledger_changes(old, step, now)
                costs += ledger.cost_events(old, step)
        pipelines[after.pipeline.id] = after.pipeline
        if before is None:
            created.add(after.pipeline.id)
        drafts += pipeline_rules.events_between(before, after)
        drafts += costs
    drafts += extra
    events: list[Event] = []
    for draft in drafts:
        pipeline = pipelines.get(draft.pipeline_id)
        if pipeline is None:
            raise ValueError(
                f"event {draft.type!r} names pipeline {draft.pipeline_id!r}, "
                "which is not among the changes"
            )
        seq = pipeline.event_seq + 1
        pipelines[draft.pipeline_id] = replace(pipeline, event_seq=seq)
        events.append(Event(0, draft.pipeline_id, seq, draft.type, draft.step, draft.data, now))
    return Implied(
        new_pipelines=tuple(p for pid, p in pipelines.items() if pid in created),
        changed_pipelines=tuple(p for pid, p in pipelines.items() if pid not in created),
        new_steps=tuple(new_steps),
        changed_steps=tuple(changed_steps),
        events=tuple(events),
        outbox=tuple(messages_for(events, pipelines, endpoints, now) if events else ()),
        downloads=tuple(downloads_for(changes, now)),
        media=tuple(media_for(changes)),
        ledger=tuple(moves),
    )


async def commit_transition(
    tx: Transaction, changes: Iterable[Change], now: float, extra: Iterable[EventDraft] = ()
) -> Implied:
    """Write ``changes`` and all they imply in ``tx``: a step's success and the downloads that
    keep its videos, an event and its webhook messages, are each one write."""
    endpoints = await tx.webhooks.enabled_endpoints()
    what = implied(changes, now, endpoints, extra)
    await tx.pipelines.write(
        new_pipelines=what.new_pipelines,
        changed_pipelines=what.changed_pipelines,
        new_steps=what.new_steps,
        changed_steps=what.changed_steps,
    )
    if tx.keep_videos:
        await tx.artifacts.insert_downloads(what.downloads)
        if what.media:
            await tx.media.enqueue(what.media, now, now + MEDIA_WAIT_S)
    if what.ledger:
        await tx.money.apply(what.ledger, now)
    await tx.pipelines.append_events(what.events)
    await tx.webhooks.insert_messages(what.outbox)
    return what
