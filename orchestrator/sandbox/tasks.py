"""Accepted tasks: the record of each, its state at any moment, and the registry holding them.

A task's whole life is fixed when it is accepted: it finishes ``task_seconds`` after creation
with an outcome drawn once, and its result link dies ``url_ttl_s`` after that. Its state at any
moment is a pure function of the clock, so no timer runs per task and a poll is a dict lookup.

So is its video: the record holds a description of the frames (``video``), and the MP4 is only
made when its link is first fetched. A base shows 8 s (64 frames) of its own marked frames, the
first of them replaced by the first-frame image when one was given; an extend shows every frame
of its source's video so far and then 7 s (56 frames) of its own, or, with apimart's
``raw: true``, only its own.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator.sandbox.video import Frames, Picture, Synthetic, code_for

Kind = Literal["generate", "extend"]

QUEUED_FRACTION = 0.1
"""The first tenth of a task's run is reported as queued, the rest as running."""

MEDIA_PREFIX = "/_sandbox/media/"

MAX_EXTEND_HOPS = 20
"""Google's limit (8 s + 20 x 7 s = 148 s), used where a provider documents none (D4)."""

BASE_FRAMES = 64
"""8 s at 8 fps."""
EXTEND_FRAMES = 56
"""The 7 s an extend adds."""


class Outcome(enum.Enum):
    SUCCESS = "success"
    NO_OUTPUT = "no_output"
    """Reported as a success whose status carries no video URL (the content route still works)."""
    CONTENT_POLICY = "content_policy"
    IMAGE_FAILED = "image_failed"
    """The first-frame image could not be fetched or decoded; the task fails when it ends."""

    @property
    def fails(self) -> bool:
        return self in (Outcome.CONTENT_POLICY, Outcome.IMAGE_FAILED)


class Phase(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Task:
    """One task a provider accepted; times are epoch seconds from the sandbox clock."""

    provider: str
    kind: Kind
    task_id: str
    number: int
    """Order of acceptance at this provider, from 1; picks deterministic response variants."""
    model: str
    prompt: str
    created_at: float
    done_at: float
    expires_at: float
    """When the result link (and the task's use as an extend source) expires."""
    outcome: Outcome
    media_token: str
    base_url: str
    """Scheme, host and root path of the submit request; result links are built on it."""
    fingerprint: str
    source_task_id: str | None = None
    depth: int = 0
    """Extends between this task and its base: 0 for a base, 1 for an extend of a base."""
    callback_url: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    """Provider-specific values echoed back in status responses (size, seconds, ...)."""
    frames: Frames = ()
    """Every frame of the video so far, from the base's first to this task's last."""
    raw: bool = False
    """The result video holds only this task's own new frames (apimart's ``raw: true``)."""
    image_error: str | None = None
    """Why an ``IMAGE_FAILED`` task failed, as its status reports it."""

    def phase(self, now: float) -> Phase:
        if now >= self.done_at:
            return Phase.FAILED if self.outcome.fails else Phase.SUCCEEDED
        if now - self.created_at < (self.done_at - self.created_at) * QUEUED_FRACTION:
            return Phase.QUEUED
        return Phase.RUNNING

    def progress(self, now: float) -> int:
        """0 while queued, rising 1..99 while running, 100 once finished."""
        if now >= self.done_at:
            return 100
        span = self.done_at - self.created_at
        fraction = (now - self.created_at) / span
        if fraction < QUEUED_FRACTION:
            return 0
        return max(1, min(99, int(fraction * 100)))

    def expired(self, now: float) -> bool:
        """Succeeded, and its result link (so its use as an extend source) is over."""
        return now >= self.expires_at and self.phase(now) is Phase.SUCCEEDED

    @property
    def has_output(self) -> bool:
        """A success reports its video URL (``NO_OUTPUT`` successes report none)."""
        return self.outcome is Outcome.SUCCESS

    @property
    def media_url(self) -> str:
        return f"{self.base_url}{MEDIA_PREFIX}{self.media_token}.mp4"

    @property
    def video(self) -> Frames:
        """What the result video shows (``video.render`` makes it)."""
        return self.frames[-1:] if self.raw else self.frames


def frames_of(
    provider: str, task_id: str, source: Task | None, first_frame: Picture | None
) -> Frames:
    """The video so far of a new task: its source's, then its own marked frames."""
    code = code_for(provider, task_id)
    if source is not None:
        return (*source.frames, Synthetic(code, 0, EXTEND_FRAMES))
    if first_frame is not None:
        return (first_frame, Synthetic(code, 1, BASE_FRAMES - 1))
    return (Synthetic(code, 0, BASE_FRAMES),)


def fingerprint(
    provider: str, kind: Kind, source: str | None, body: Mapping[str, Any], *callback_keys: str
) -> str:
    """A key equal for identical submits: same provider, kind, source and body minus callbacks."""
    kept = {key: value for key, value in body.items() if key not in callback_keys}
    return json.dumps([provider, kind, source, kept], sort_keys=True, separators=(",", ":"))


class TaskRegistry:
    """Every accepted task by id and by media token, and how often each submit was repeated."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._by_token: dict[str, Task] = {}
        self._submits: dict[str, int] = {}
        self._accepted: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def next_number(self, provider: str) -> int:
        number = self._accepted.get(provider, 0) + 1
        self._accepted[provider] = number
        return number

    def add(self, task: Task) -> None:
        self._tasks[task.task_id] = task
        self._by_token[task.media_token] = task
        self._submits[task.fingerprint] = self._submits.get(task.fingerprint, 0) + 1

    def get(self, provider: str, task_id: str) -> Task | None:
        """The task with this id, if ``provider`` accepted it (ids never cross providers)."""
        task = self._tasks.get(task_id)
        return task if task is not None and task.provider == provider else None

    def by_media_token(self, token: str) -> Task | None:
        return self._by_token.get(token)

    def submit_count(self, task: Task) -> int:
        """How many identical submits arrived, counting the one that created ``task``."""
        return self._submits.get(task.fingerprint, 0)

    def listing(self, provider: str | None = None) -> list[Task]:
        tasks = self._tasks.values()
        return [t for t in tasks if provider is None or t.provider == provider]

    def clear(self) -> None:
        self._tasks.clear()
        self._by_token.clear()
        self._submits.clear()
        self._accepted.clear()
