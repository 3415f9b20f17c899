"""Rows to frozen models and back: the only place that knows column names and encodings."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from orchestrator.domain.models import (
    Billing,
    Decision,
    Event,
    Pipeline,
    PipelineStatus,
    Route,
    Routing,
    Step,
    StepError,
    StepStatus,
)
from orchestrator.domain.values import VideoParams

PIPELINE_COLUMNS: tuple[str, ...] = (
    "id",
    "provider",
    "status",
    "metadata",
    "webhook_url",
    "error_code",
    "error_message",
    "idempotency_key",
    "request_hash",
    "event_seq",
    "budget_micros",
    "routing",
    "created_at",
    "updated_at",
)

STEP_COLUMNS: tuple[str, ...] = (
    "pipeline_id",
    "idx",
    "provider",
    "kind",
    "parent_idx",
    "prompt",
    "model",
    "params",
    "provider_options",
    "status",
    "provider_task_id",
    "callback_mode",
    "progress",
    "video_urls",
    "urls_expire_at",
    "error_code",
    "error_message",
    "attempts",
    "polls",
    "poll_failures",
    "not_found_polls",
    "next_at",
    "submitted_at",
    "completed_at",
    "claimed_by",
    "estimate_micros",
    "billing",
    "billing_seq",
    "reported_micros",
    "first_frame",
    "created_at",
    "updated_at",
)

Row = Mapping[str, Any]


def _dumps(value: object) -> str:
    # Non-ASCII stays as written, so that a search of metadata finds it.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _error(code: str | None, message: str | None) -> StepError | None:
    return None if code is None else StepError(code, message or "")


@functools.lru_cache(maxsize=4096)
def _params(text: str) -> VideoParams:
    """Most steps share a few parameter sets; parsing one is most of loading a step. The
    value is frozen, so one parse serves every step written with the same text."""
    return VideoParams.model_validate_json(text)


def _object(text: str) -> dict[str, Any]:
    if text == "{}":
        return {}
    found: dict[str, Any] = json.loads(text)
    return found


def pipeline_from_row(row: Row) -> Pipeline:
    return Pipeline(
        id=row["id"],
        provider=row["provider"],
        status=PipelineStatus(row["status"]),
        metadata=json.loads(row["metadata"]),
        webhook_url=row["webhook_url"],
        error=_error(row["error_code"], row["error_message"]),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        event_seq=row["event_seq"],
        budget_micros=row["budget_micros"],
        routing=_routing(row["routing"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def pipeline_values(p: Pipeline) -> tuple[Any, ...]:
    return (
        p.id,
        p.provider,
        str(p.status),
        _dumps(p.metadata),
        p.webhook_url,
        p.error.code if p.error else None,
        p.error.message if p.error else None,
        p.idempotency_key,
        p.request_hash,
        p.event_seq,
        p.budget_micros,
        None if p.routing is None else _dumps(routing_json(p.routing)),
        p.created_at,
        p.updated_at,
    )


def step_from_row(row: Row) -> Step:
    return Step(
        pipeline_id=row["pipeline_id"],
        index=row["idx"],
        provider=row["provider"],
        kind=row["kind"],
        parent=row["parent_idx"],
        prompt=row["prompt"],
        model=row["model"],
        params=_params(row["params"]),
        provider_options=_object(row["provider_options"]),
        status=StepStatus(row["status"]),
        provider_task_id=row["provider_task_id"],
        callback_mode=bool(row["callback_mode"]),
        progress=row["progress"],
        video_urls=() if row["video_urls"] == "[]" else tuple(json.loads(row["video_urls"])),
        urls_expire_at=row["urls_expire_at"],
        error=_error(row["error_code"], row["error_message"]),
        attempts=row["attempts"],
        polls=row["polls"],
        poll_failures=row["poll_failures"],
        not_found_polls=row["not_found_polls"],
        next_at=row["next_at"],
        submitted_at=row["submitted_at"],
        completed_at=row["completed_at"],
        claimed_by=row["claimed_by"],
        estimate_micros=row["estimate_micros"],
        billing=None if row["billing"] is None else Billing(row["billing"]),
        billing_seq=row["billing_seq"],
        reported_micros=row["reported_micros"],
        first_frame=row["first_frame"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def step_values(s: Step) -> tuple[Any, ...]:
    return (
        s.pipeline_id,
        s.index,
        s.provider,
        s.kind,
        s.parent,
        s.prompt,
        s.model,
        s.params.model_dump_json(exclude_none=True),
        _dumps(s.provider_options),
        str(s.status),
        s.provider_task_id,
        int(s.callback_mode),
        s.progress,
        _dumps(list(s.video_urls)),
        s.urls_expire_at,
        s.error.code if s.error else None,
        s.error.message if s.error else None,
        s.attempts,
        s.polls,
        s.poll_failures,
        s.not_found_polls,
        s.next_at,
        s.submitted_at,
        s.completed_at,
        s.claimed_by,
        s.estimate_micros,
        None if s.billing is None else str(s.billing),
        s.billing_seq,
        s.reported_micros,
        s.first_frame,
        s.created_at,
        s.updated_at,
    )


def step_update_values(s: Step) -> tuple[Any, ...]:
    """Values for ``UPDATE_STEP``: every column but the key, then the key."""
    values = step_values(s)
    return values[2:] + values[:2]


def pipeline_update_values(p: Pipeline) -> tuple[Any, ...]:
    values = pipeline_values(p)
    return values[1:] + values[:1]


def routing_json(routing: Routing) -> dict[str, Any]:
    return {
        "routes": [
            {"provider": r.provider, "estimate_micros": r.estimate_micros} for r in routing.routes
        ],
        "request": routing.request,
        "skipped": routing.skipped,
        "decisions": [
            {"provider": d.provider, "reason": d.reason, "at": d.at} for d in routing.decisions
        ],
    }


def _routing(text: str | None) -> Routing | None:
    if text is None:
        return None
    raw = json.loads(text)
    return Routing(
        routes=tuple(Route(r["provider"], r["estimate_micros"]) for r in raw["routes"]),
        request=raw["request"],
        skipped=raw["skipped"],
        decisions=tuple(Decision(d["provider"], d["reason"], d["at"]) for d in raw["decisions"]),
    )


def event_from_row(row: Row) -> Event:
    return Event(
        id=row["id"],
        pipeline_id=row["pipeline_id"],
        seq=row["seq"],
        type=row["type"],
        step=row["step_idx"],
        data=json.loads(row["data"]),
        created_at=row["created_at"],
    )


def event_data(data: Mapping[str, Any]) -> str:
    return _dumps(data)
