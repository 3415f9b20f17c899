"""Which downloads a saved change asks for: one per video of each step that just succeeded."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.domain.artifacts import Download, DownloadStatus
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
