"""Webhook rows to frozen models and back."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.domain.webhooks import Attempt, Endpoint, EndpointSecret, Message, MessageStatus
from orchestrator.store.rows import Row


def endpoint_from_row(row: Row) -> Endpoint:
    return Endpoint(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(json.loads(row["event_types"])),
        secrets=tuple(
            EndpointSecret(s["value"], s.get("expires_at")) for s in json.loads(row["secrets"])
        ),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _secrets(e: Endpoint) -> str:
    return json.dumps([{"value": s.value, "expires_at": s.expires_at} for s in e.secrets])


def endpoint_values(e: Endpoint) -> tuple[Any, ...]:
    return (
        e.id,
        e.url,
        e.description,
        json.dumps(list(e.event_types)),
        _secrets(e),
        int(e.enabled),
        e.disabled_reason,
        e.created_at,
        e.updated_at,
    )


def endpoint_update_values(e: Endpoint) -> tuple[Any, ...]:
    return (
        e.url,
        e.description,
        json.dumps(list(e.event_types)),
        _secrets(e),
        int(e.enabled),
        e.disabled_reason,
        e.updated_at,
        e.id,
    )


def message_from_row(row: Row) -> Message:
    return Message(
        id=row["id"],
        destination=row["destination"],
        url=row["url"],
        pipeline_id=row["pipeline_id"],
        seq=row["seq"],
        type=row["type"],
        payload=row["payload"],
        status=MessageStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def message_values(m: Message) -> tuple[Any, ...]:
    return (
        m.id,
        m.destination,
        m.url,
        m.pipeline_id,
        m.seq,
        m.type,
        m.payload,
        str(m.status),
        m.attempts,
        m.next_attempt_at,
        m.last_error,
        m.created_at,
        m.finished_at,
    )


def message_update_values(m: Message) -> tuple[Any, ...]:
    return (str(m.status), m.attempts, m.next_attempt_at, m.last_error, m.finished_at, m.id)


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        id=row["id"],
        message_id=row["message_id"],
        attempted_at=row["attempted_at"],
        status_code=row["status_code"],
        response=row["response"],
        duration_ms=row["duration_ms"],
        error=row["error"],
    )


def attempt_values(a: Attempt) -> tuple[Any, ...]:
    return (a.message_id, a.attempted_at, a.status_code, a.response, a.duration_ms, a.error)
