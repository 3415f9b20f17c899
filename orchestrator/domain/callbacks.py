"""What the public receiver hands the orchestrator once a callback is verified."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from orchestrator.domain.values import TaskStatus


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """The step a callback URL's token names."""

    pipeline_id: str
    step: int
    provider: str


class Verdict(enum.Enum):
    RECORDED = "recorded"
    """Durably recorded (or a duplicate of a recorded one): acknowledge."""
    MISMATCH = "mismatch"
    """The body names another task than the one the token's step owns: refuse."""


@dataclass(frozen=True, slots=True)
class Callback:
    target: CallbackTarget
    status: TaskStatus
    body: bytes


class Inbox(Protocol):
    async def record(self, callback: Callback) -> Verdict:
        """Record durably and idempotently; return only once committed."""
        ...
