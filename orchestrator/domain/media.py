"""The media work done after downloads, as the store hands it out, and the pure rules of a
branch's whole video: which steps it runs through, which files hold which part of it.

Two kinds of job, one row per (pipeline, step, kind):

- ``frame``: extract the last frame of a step's kept video, for the continuations that start
  from it;
- ``video``: make the whole video of the branch from the base to the step (its *leaf*).

What a step's file holds differs by provider (the whole video so far, or only its new part),
so ``pieces`` decides from the files' probes, not from the provider's name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from orchestrator.domain.models import PipelineView, Step, StepStatus

MediaKind = Literal["frame", "video"]


class MediaStatus(enum.StrEnum):
    WAITING = "waiting"
    """For the downloads it needs; ``next_at`` is the latest look (a recorded download of
    the pipeline makes it sooner)."""
    WORKING = "working"
    """Claimed by a worker until ``next_at`` (its lease); claimed again after."""
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MediaJob:
    pipeline_id: str
    step: int
    kind: MediaKind
    status: MediaStatus
    attempts: int
    created_at: float
    updated_at: float
    next_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.pipeline_id, self.step, self.kind)


BASE_SECONDS = 8.0
"""A Veo generation's length when the request does not say."""
EXTEND_SECONDS = 7.0
"""What one Veo extend adds."""


def branch(view: PipelineView, leaf: int) -> list[Step]:
    """The steps from the base to ``leaf``, base first."""
    chain: list[Step] = []
    index: int | None = leaf
    while index is not None:
        step = view.steps[index]
        chain.append(step)
        index = step.parent
    chain.reverse()
    return chain


def last_good(view: PipelineView, leaf: int) -> int | None:
    """The deepest succeeded step of the branch to ``leaf`` that everything above succeeded
    for: ``leaf`` itself when it succeeded, None when not even the base did."""
    good: int | None = None
    for step in branch(view, leaf):
        if step.status is not StepStatus.SUCCEEDED:
            break
        good = step.index
    return good


def leaves(view: PipelineView) -> list[int]:
    """Steps no other step follows: each ends one branch."""
    parents = {s.parent for s in view.steps if s.parent is not None}
    return [s.index for s in view.steps if s.index not in parents]


def planned_seconds(view: PipelineView) -> dict[int, float]:
    """How long each step's whole video should be once it succeeds: a base its requested
    duration (8 s by default), an extend 7 s more than its parent, a continuation a new
    generation's length more (less the one repeated frame, which this does not count)."""
    length: dict[int, float] = {}
    for step in view.steps:
        own = float(step.params.duration or BASE_SECONDS)
        if step.parent is None:
            length[step.index] = own
        elif step.continues:
            length[step.index] = length[step.parent] + own
        else:
            length[step.index] = length[step.parent] + EXTEND_SECONDS
    return length


@dataclass(frozen=True, slots=True)
class Piece:
    """One step's file as a part of a whole video."""

    step: int
    drop_first_frame: bool = False


SamePicture = Callable[[str, str], bool]


def pieces(
    view: PipelineView,
    upto: int,
    probes: Mapping[int, Mapping[str, Any]],
    same_picture: SamePicture,
    seams: Mapping[int, bool] | None = None,
) -> list[Piece]:
    """The files that, joined in order, make the whole video from the base to ``upto``.

    A chain runs from a generation (the base, or a continuation) through its extends. An
    extend's file holds the chain so far when it is about as long as the chain's pieces plus a
    segment and starts with the chain's first picture: then it alone stands for the chain.
    Otherwise it holds only its new part and follows the chain's pieces. A continuation's
    chain follows the whole video of its parent, and its first frame is dropped when
    ``seams[step]`` says it repeats the parent's last frame (True when not measured).
    """
    local: dict[int, list[Piece]] = {}

    def duration(parts: list[Piece]) -> float:
        return sum(float(probes[p.step]["duration_s"]) for p in parts)

    def generation(index: int) -> int:
        step = view.steps[index]
        while step.kind != "generate" and step.parent is not None:
            step = view.steps[step.parent]
        return step.index

    def chain(index: int) -> list[Piece]:
        """The pieces from the chain's generation to ``index``, nothing dropped."""
        if index in local:
            return local[index]
        step = view.steps[index]
        if step.kind == "generate" or step.parent is None:
            found = [Piece(index)]
        else:
            before = chain(step.parent)
            first = probes[before[0].step]
            if _holds_whole(probes[index], first, duration(before), same_picture):
                found = [Piece(index)]
            else:
                found = [*before, Piece(index)]
        local[index] = found
        return found

    def whole(index: int) -> list[Piece]:
        start = view.steps[generation(index)]
        parts = chain(index)
        if not start.continues or start.parent is None:
            return parts
        drop = True if seams is None else seams.get(start.index, True)
        head = replace(parts[0], drop_first_frame=drop)
        return [*whole(start.parent), head, *parts[1:]]

    return whole(upto)


def _holds_whole(
    probe: Mapping[str, Any],
    first_probe: Mapping[str, Any],
    before_s: float,
    same_picture: SamePicture,
) -> bool:
    fps = probe.get("fps") or 24.0
    if float(probe["duration_s"]) < before_s + 1.0 / float(fps):
        return False
    mine, theirs = probe.get("first_frame"), first_probe.get("first_frame")
    if mine is None or theirs is None:
        return True  # probes without a first-frame signature: the length alone decides
    return same_picture(str(mine), str(theirs))
