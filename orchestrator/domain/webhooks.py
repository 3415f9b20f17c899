"""Webhook endpoints, outbox messages and delivery attempts, as the store hands them out."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

PIPELINE_DESTINATION = "pipeline"
"""The ``destination`` of messages for a pipeline's own ``webhook_url``."""

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "pipeline.created",
        "pipeline.running",
        "pipeline.succeeded",
        "pipeline.failed",
        "pipeline.cancelled",
        "step.added",
        "step.pending",
        "step.submitting",
        "step.submitted",
        "step.running",
        "step.succeeded",
        "step.failed",
        "step.cancelled",
        "step.ambiguous",
        "step.overdue",
        "step.routed",
        "cost.charged",
        "cost.refunded",
        "budget.warning",
        "budget.exceeded",
        "artifact.stored",
        "artifact.failed",
        "frame.extracted",
        "frame.failed",
        "video.stitched",
        "video.failed",
        "action.created",
        "action.cancelled",
        "action.retried",
        "action.extended",
    }
)
"""Every event type an endpoint may name (or name the family of, ``step.*``). The ``action.*``
ones are the audit events: who did an action on a pipeline, and why (``operations``)."""


AUDIT_EVENT_TYPES: frozenset[str] = frozenset(t for t in EVENT_TYPES if t.startswith("action."))

DEFAULT_EVENT_TYPES: frozenset[str] = (
    EVENT_TYPES - {"step.pending", "step.submitting", "pipeline.running"} - AUDIT_EVENT_TYPES
)
"""What a destination without a filter (and a pipeline's own ``webhook_url``) receives. The
bookkeeping steps in between and the audit events stay in the event log and the stream, and
go out only to endpoints that name them (``action.*``)."""


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: out of retries, endpoint gone (410) or deleted."""


@dataclass(frozen=True, slots=True)
class EndpointSecret:
    value: str
    expires_at: float | None = None
    """A rotated-out secret keeps signing until then, so receivers can switch over."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    secrets: tuple[EndpointSecret, ...]
    """Newest first."""
    enabled: bool
    created_at: float
    updated_at: float
    disabled_reason: str | None = None

    def wants(self, event_type: str) -> bool:
        """Empty filter = the default events; ``step.*`` matches every step event."""
        if not self.event_types:
            return event_type in DEFAULT_EVENT_TYPES
        return any(
            t == event_type or (t.endswith(".*") and event_type.startswith(t[:-1]))
            for t in self.event_types
        )

    def signing_secrets(self, now: float) -> list[str]:
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    """The ``webhook-id``: the same on every attempt."""
    destination: str
    url: str
    pipeline_id: str
    seq: int
    type: str
    payload: str
    status: MessageStatus
    attempts: int
    created_at: float
    next_attempt_at: float | None = None
    last_error: str | None = None
    finished_at: float | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    message_id: str
    attempted_at: float
    status_code: int | None
    response: str
    duration_ms: float
    error: str | None


def new_id(prefix: str, now: float) -> str:
    return f"{prefix}_{int(now * 1000):012x}{secrets.token_hex(6)}"
