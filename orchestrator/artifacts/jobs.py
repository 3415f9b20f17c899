"""Which downloads and media jobs a saved change asks for: one download per video of each
step that just succeeded; whole videos and last frames (``media_for``)."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.domain.artifacts import Download, DownloadStatus
from orchestrator.domain.media import MediaKind, last_good, leaves
from orchestrator.domain.models import PipelineView, StepStatus


def downloads_for(
    changes: Iterable[tuple[PipelineView | None, PipelineView]], now: float
) -> list[Download]:
    downloads: list[Download] = []
    for before, after in changes:
        old = {s.index: s.status for s in before.steps} if before else {}
        for step in after.steps:
            if step.status is not StepStatus.SUCCEEDED or old.get(step.index) is step.status:
                continue
            for n, url in enumerate(step.video_urls):
                downloads.append(
                    Download(
                        pipeline_id=step.pipeline_id,
                        step=step.index,
                        url_index=n,
                        provider=step.provider,
                        url=url,
                        status=DownloadStatus.PENDING,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                        next_attempt_at=now,
                        expires_at=step.urls_expire_at,
                    )
                )
    return downloads


MediaWork = tuple[str, int, MediaKind]
"""(pipeline, step, kind) of a media job to (re)do."""

_ENDED = (StepStatus.FAILED, StepStatus.CANCELLED)


def media_for(changes: Iterable[tuple[PipelineView | None, PipelineView]]) -> list[MediaWork]:
    """The media jobs a change asks for: the whole video of a branch whose leaf just
    succeeded (or just failed, once something above it succeeded: a partial video), and the
    last frame of a step a waiting continuation starts from. Each waits for the downloads it
    needs."""
    work: list[MediaWork] = []
    for before, after in changes:
        old = {s.index: s for s in before.steps} if before else {}
        ends: set[int] | None = None  # the leaves, found only once a step has ended
        frames: set[int] = set()
        for step in after.steps:
            was = old.get(step.index)
            moved = was is None or was.status is not step.status
            if moved and (
                step.status is StepStatus.SUCCEEDED
                or (step.status in _ENDED and last_good(after, step.index) is not None)
            ):
                ends = set(leaves(after)) if ends is None else ends
                if step.index in ends:
                    work.append((after.pipeline.id, step.index, "video"))
            if (
                step.continues
                and step.parent is not None
                and step.status is StepStatus.PENDING
                and step.first_frame is None
                and after.steps[step.parent].status is StepStatus.SUCCEEDED
            ):
                parent_was = old.get(step.parent)
                if moved or parent_was is None or parent_was.status is not StepStatus.SUCCEEDED:
                    frames.add(step.parent)
        work += [(after.pipeline.id, index, "frame") for index in sorted(frames)]
    return work
