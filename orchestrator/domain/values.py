"""The words reelay and every provider adapter share: task states, task observations,
generation parameters, and what a provider can do."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StepKind = Literal["generate", "extend"]


class Tier(enum.StrEnum):
    FAST = "fast"
    QUALITY = "quality"


class TaskState(enum.StrEnum):
    """Normalized task state (docs/providers.md#status-words)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.EXPIRED}
)


class VideoParams(BaseModel):
    """Generation parameters we normalize across providers. ``None`` means provider default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aspect_ratio: str | None = None
    resolution: str | None = None
    duration: int | None = Field(default=None, ge=1, le=60)
    seed: int | None = Field(default=None, ge=0, le=4_294_967_295)
    negative_prompt: str | None = None
    first_frame_url: str | None = None
    last_frame_url: str | None = None
    generate_audio: bool | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a request cannot be sent; ``field`` is relative to the step's ``params``."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do, so an impossible request is refused before money is spent."""

    callbacks: bool
    max_extend_depth: int
    """Longest chain of extends below the base: 1 means an extend of an extend is refused."""
    aspect_ratios: frozenset[str]
    resolutions: frozenset[str]
    durations: frozenset[int]
    typical_task_seconds: float
    """When a task usually finishes; the first poll is scheduled near it."""
    first_frame: bool = False
    """Whether a generation can start from a given picture (image-to-video): what a
    continuation needs."""


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Everything needed to ask a provider about a task it created."""

    task_id: str
    kind: StepKind
    model: str


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One normalized observation of a provider task (docs/providers.md)."""

    task_id: str
    state: TaskState
    raw_status: str
    progress: int | None = None
    video_urls: tuple[str, ...] = ()
    urls_expire_at: float | None = None
    """Epoch seconds after which ``video_urls`` stop working (D9)."""
    error_code: str | None = None
    error_message: str | None = None
    created_at: float | None = None
    """Epoch seconds (D8)."""
    completed_at: float | None = None
    cost_micros: int | None = None
    """What the provider says the task cost, in micro-USD, when its answer says."""
