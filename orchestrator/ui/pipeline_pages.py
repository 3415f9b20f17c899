"""The pipeline list and a pipeline's page: what they read and hand to their templates."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.api.schemas import kept_artifacts, pipeline_out
from orchestrator.api.services import services
from orchestrator.domain.models import Event, PipelineView, StepStatus
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import base
from orchestrator.ui.filters import STATUSES, read_filters
from orchestrator.ui.money import Money, list_money, pipeline_money, routing_sig
from orchestrator.ui.tree import build

PAGE_SIZE = 50
EVENTS_SHOWN = 500
"""The newest events of a pipeline its page shows (the API pages through all of them)."""
FAILED_EVENTS = (
    "step.failed",
    "step.ambiguous",
    "step.overdue",
    "pipeline.failed",
    "artifact.failed",
)


@dataclass(frozen=True, slots=True)
class Row:
    view: PipelineView
    money: Money
    """The pipeline's, summed over its steps."""

    @property
    def id(self) -> str:
        return self.view.pipeline.id

    @property
    def prompt(self) -> str:
        return self.view.steps[0].prompt if self.view.steps else ""

    @property
    def done(self) -> int:
        return sum(1 for s in self.view.steps if s.status is StepStatus.SUCCEEDED)

    @property
    def total(self) -> int:
        return len(self.view.steps)

    @property
    def running(self) -> int:
        return sum(1 for s in self.view.steps if s.status.in_flight)

    @property
    def duration(self) -> float:
        p = self.view.pipeline
        return p.updated_at - p.created_at

    @property
    def sig(self) -> str:
        p = self.view.pipeline
        steps = [(s.status, s.progress) for s in self.view.steps]
        state = (p.status, p.updated_at, steps, self.money)
        return hashlib.blake2b(repr(state).encode(), digest_size=8).hexdigest()


async def list_page(request: Request) -> Response:
    board = dashboard(request)
    ops = services(request).operations
    store = services(request).store
    providers = tuple(sorted(board.providers))
    filters = read_filters(request.query_params, providers)
    start, end = filters.range()
    last_event = await store.last_event_id()
    views = await ops.list_pipelines(
        status=filters.status,
        provider=filters.provider,
        limit=PAGE_SIZE,
        cursor=filters.cursor,
        created_from=start,
        created_to=end,
        text=filters.q,
    )
    counts = await ops.count_pipelines(
        provider=filters.provider, created_from=start, created_to=end, text=filters.q
    )
    ledger = await store.ledger([v.pipeline.id for v in views])
    money = list_money(views, ledger)
    rows = [Row(v, money[v.pipeline.id]) for v in views]
    next_cursor = rows[-1].id if len(rows) == PAGE_SIZE else None
    stream = f"{base(request.scope)}/events?after={last_event}"
    return board.pages.render(
        request,
        "pipelines.html",
        {
            "filters": filters,
            "rows": rows,
            "rows_sig": ",".join(r.id for r in rows),
            "counts": counts,
            "counts_sig": json.dumps(counts, sort_keys=True),
            "total": sum(counts.values()),
            "statuses": STATUSES,
            "providers": providers,
            "next_cursor": next_cursor,
            "stream": stream,
        },
        nav="pipelines",
    )


async def pipeline_page(request: Request) -> Response:
    board = dashboard(request)
    serving = services(request)
    pipeline_id = request.path_params["pipeline_id"]
    view = await serving.operations.get(pipeline_id)
    kept = kept_artifacts(await serving.store.step_artifacts([pipeline_id]))
    ledger = await serving.store.ledger([pipeline_id])
    out = pipeline_out(view, kept, ledger)
    total, steps = pipeline_money(view, ledger)
    videos = {
        s.index: f"{base(request.scope)}/pipelines/{pipeline_id}/steps/{s.index}/video"
        for s in out.steps
        if s.artifact is not None
    }
    tree = build(
        view,
        board.providers.get(view.pipeline.provider),
        now=board.clock(),
        callbacks=await serving.store.terminal_callbacks(pipeline_id),
        videos=videos,
        money=steps,
        probes={
            s.index: s.artifact.probe.model_dump()
            for s in out.steps
            if s.artifact is not None and s.artifact.probe is not None
        },
    )
    whole = await serving.videos.all(view)
    seq = view.pipeline.event_seq
    events = await serving.store.events(pipeline_id, max(0, seq - EVENTS_SHOWN), EVENTS_SHOWN)
    failed_only = request.query_params.get("events") == "failed"
    shown = [e for e in events if e.type in FAILED_EVENTS] if failed_only else events
    last_event_id = events[-1].id if events else 0
    stream = f"{base(request.scope)}/events?pipeline_id={pipeline_id}&after={last_event_id}"
    retryable = [
        s.index for s in view.steps if s.status in (StepStatus.FAILED, StepStatus.AMBIGUOUS)
    ]
    extend_from = request.query_params.get("extend", "")
    raw = out.model_dump_json(indent=2)
    return board.pages.render(
        request,
        "pipeline.html",
        {
            "view": view,
            "p": view.pipeline,
            "tree": tree,
            "events": list(reversed(shown)),
            "events_total": seq,
            "events_sig": f"{seq}:{failed_only}",
            "failed_only": failed_only,
            "counts": Counter(str(s.status) for s in view.steps),
            "raw": raw,
            "raw_sig": hashlib.blake2b(raw.encode(), digest_size=8).hexdigest(),
            "stream": stream,
            "retryable": retryable,
            "extendable": [
                n for n in tree.nodes if n.extend_refusal is None or n.continue_refusal is None
            ],
            "whole": whole,
            "whole_sig": repr([(w.leaf, w.state, w.result.get("sha256")) for w in whole]),
            "extend_from": int(extend_from) if extend_from.isdecimal() else None,
            "extend_mode": request.query_params.get("mode", "extend"),
            "summary_sig": f"{view.pipeline.status}:{view.pipeline.updated_at}",
            "money": total,
            "routing": view.pipeline.routing,
            "routing_sig": routing_sig(view.pipeline.routing),
            "actor_of": actor_of,
            "now": board.clock(),
        },
        nav="pipelines",
    )


def actor_of(event: Event) -> str:
    """Who did an ``action.*`` event, with the reason they gave."""
    who = str(event.data.get("actor") or "")
    reason = event.data.get("reason")
    return f"{who}: “{reason}”" if reason else who
