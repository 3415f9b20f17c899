"""Downloads to do and the artifacts they keep, as the store hands them out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class DownloadStatus(enum.StrEnum):
    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"
    PRUNED = "pruned"
    """Stored once, removed later by the retention policy."""


@dataclass(frozen=True, slots=True)
class Download:
    pipeline_id: str
    step: int
    url_index: int
    provider: str
    url: str
    status: DownloadStatus
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float | None = None
    expires_at: float | None = None
    """When the provider's link stops working: no attempt is scheduled after it."""
    sha256: str | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.pipeline_id, self.step, self.url_index)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A stored video, by content."""

    sha256: str
    size: int
    content_type: str
    storage_key: str
    probe: dict[str, Any] | None = None
    """What the video is, measured when it was kept (``artifacts.probe``)."""


@dataclass(frozen=True, slots=True)
class StepArtifact:
    """What the API shows for one result video of a step."""

    pipeline_id: str
    step: int
    url_index: int
    status: DownloadStatus
    error: str | None
    artifact: Artifact | None
