"""What the API and the CLI say of each branch's whole video: made, being made, or why not.

The media worker (``artifacts/media_worker.py``) makes a branch's whole video after its leaf
finishes; asking for one that was never asked for (a step that is not a leaf, say) asks the
worker for it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.media import (
    MediaJob,
    MediaKind,
    MediaStatus,
    last_good,
    leaves,
    planned_seconds,
)
from orchestrator.domain.models import PipelineView
from orchestrator.store import Store, Transaction

RETRY_AFTER_S = 2


class VideoState(enum.StrEnum):
    READY = "ready"
    MAKING = "making"
    FAILED = "failed"
    NOT_YET = "not_yet"
    """The branch has not finished: its whole video is made once it does."""
    NONE = "none"
    """No step of the branch succeeded: there is no video."""


@dataclass(frozen=True, slots=True)
class BranchVideo:
    leaf: int
    state: VideoState
    message: str
    planned_s: float
    result: dict[str, Any]
    """The media job's result when ready: sha256, size, key, content_type, probe, partial,
    upto, method, reason, segments, dropped_frames."""

    @property
    def partial(self) -> bool:
        return bool(self.result.get("partial"))

    def as_json(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = {
            "leaf": self.leaf,
            "state": str(self.state),
            "message": self.message,
            "planned_seconds": self.planned_s,
        }
        if self.state is VideoState.READY:
            r = self.result
            found |= {
                "url": url,
                "partial": r["partial"],
                "upto": r["upto"],
                "method": r["method"],
                "reason": r["reason"] or None,
                "segments": r["segments"],
                "dropped_frames": r["dropped_frames"],
                "sha256": r["sha256"],
                "size": r["size"],
                "probe": r["probe"],
            }
        return found


class BranchVideos:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float],
        wake: Callable[[], None],
        kept: bool = True,
    ):
        """``kept``: result videos are kept (``REELAY_KEEP_VIDEOS``); without, there are no
        whole videos."""
        self._store = store
        self._kept = kept
        self._clock = clock
        self._wake = wake

    async def all(self, view: PipelineView) -> list[BranchVideo]:
        """The whole video of every branch, in leaf order."""
        return await self._described(view, leaves(view))

    async def one(self, view: PipelineView, leaf: int) -> BranchVideo:
        """The whole video from the base to ``leaf`` (any step)."""
        return (await self._described(view, [leaf]))[0]

    async def _described(self, view: PipelineView, wanted: list[int]) -> list[BranchVideo]:
        """Asks for the videos that can be made and nothing asked for yet (a step that is
        not a leaf, or a pipeline that finished before reelay made whole videos)."""
        if not self._kept:
            message = "result videos are not kept here (REELAY_KEEP_VIDEOS is off)"
            planned = planned_seconds(view)
            return [BranchVideo(n, VideoState.NONE, message, planned[n], {}) for n in wanted]
        jobs = await self._jobs(view)
        planned = planned_seconds(view)
        videos = [_describe(view, leaf, jobs.get(leaf), planned[leaf]) for leaf in wanted]
        video: MediaKind = "video"
        missing = [
            (view.pipeline.id, v.leaf, video)
            for v in videos
            if v.leaf not in jobs and v.state is VideoState.MAKING
        ]
        if missing:
            now = self._clock()

            async def ask(tx: Transaction) -> None:
                await tx.media.enqueue(missing, now, now, again=False)

            await self._store.run(ask)
            self._wake()
        return videos

    async def _jobs(self, view: PipelineView) -> dict[int, MediaJob]:
        return {
            j.step: j for j in await self._store.media_jobs(view.pipeline.id) if j.kind == "video"
        }


def _describe(view: PipelineView, leaf: int, job: MediaJob | None, planned: float) -> BranchVideo:
    def said(state: VideoState, message: str, result: dict[str, Any] | None = None) -> BranchVideo:
        return BranchVideo(leaf, state, message, planned, result or {})

    if job is not None and job.status is MediaStatus.DONE:
        upto = job.result["upto"]
        if job.result["partial"]:
            return said(
                VideoState.READY,
                f"partial: from the base to step {upto}, the last that succeeded",
                job.result,
            )
        return said(VideoState.READY, "the whole video from the base to this step", job.result)
    if job is not None and job.status is MediaStatus.FAILED:
        return said(VideoState.FAILED, f"could not be made: {job.error}")
    step = view.steps[leaf]
    good = last_good(view, leaf)
    if good is None and step.status.finished:
        return said(VideoState.NONE, "no step of this branch succeeded, so there is no video")
    if job is not None:
        return said(VideoState.MAKING, job.error or "being made", job.result)
    if step.status.finished:
        return said(VideoState.MAKING, "being made")
    return said(
        VideoState.NOT_YET,
        f"step {leaf} is {step.status}; its whole video is made once it finishes",
    )
