"""Request and response shapes of the webhook routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.api.schemas import iso
from orchestrator.domain.webhooks import Attempt, Endpoint, Message


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2048)
    event_types: list[str] = Field(default_factory=list, description="Empty = every event")
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    event_types: list[str] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_old_for_s: float = Field(
        default=86_400, ge=0, le=7 * 86_400, description="How long the old secret keeps signing"
    )


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: float = Field(description="Epoch seconds: redeliver what failed at or after this")
    endpoint_id: str | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str
    secret: str | None = Field(default=None, description="Returned only at creation/rotation")


class EndpointListOut(BaseModel):
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    attempted_at: str
    status_code: int | None
    response: str
    duration_ms: float
    error: str | None


class MessageOut(BaseModel):
    id: str
    destination: str
    pipeline_id: str
    seq: int
    type: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str
    finished_at: str | None
    attempts_log: list[AttemptOut] | None = None


class MessageListOut(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class RedeliveredOut(BaseModel):
    redelivered: int


class WebhookSecretOut(BaseModel):
    secrets: list[str] = Field(description="Newest first; each signs pipeline webhook_url calls")


def endpoint_out(endpoint: Endpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_at=iso(endpoint.created_at) or "",
        updated_at=iso(endpoint.updated_at) or "",
        secret=secret,
    )


def message_out(message: Message, attempts: list[Attempt] | None = None) -> MessageOut:
    return MessageOut(
        id=message.id,
        destination=message.destination,
        pipeline_id=message.pipeline_id,
        seq=message.seq,
        type=message.type,
        status=str(message.status),
        attempts=message.attempts,
        next_attempt_at=iso(message.next_attempt_at),
        last_error=message.last_error,
        created_at=iso(message.created_at) or "",
        finished_at=iso(message.finished_at),
        attempts_log=None
        if attempts is None
        else [
            AttemptOut(
                attempted_at=iso(a.attempted_at) or "",
                status_code=a.status_code,
                response=a.response,
                duration_ms=a.duration_ms,
                error=a.error,
            )
            for a in attempts
        ],
    )
