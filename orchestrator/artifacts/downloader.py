"""Keeping every result: download each succeeded step's videos before the links expire.

Downloads are jobs written with the step's success; this worker claims due ones (leased, like
polls), fetches them concurrently but boundedly, and records the outcome with an event. The
next step of a pipeline never waits for a download. A transient failure is retried with
backoff only while an attempt can still finish before the link expires; past that, or on a
permanent failure, the step's error field and an ``artifact.failed`` event say so.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import httpx

from orchestrator.artifacts.fetch import Fetched, FetchFailed, fetch
from orchestrator.artifacts.probe import ProbeFailed, probe
from orchestrator.artifacts.storage import ArtifactStorage, StorageUnavailable
from orchestrator.claim_loop import ClaimLoop
from orchestrator.common import backoff, logs
from orchestrator.common.backoff import Outage
from orchestrator.domain.artifacts import Artifact, Download, DownloadStatus
from orchestrator.domain.models import EventDraft, PipelineView, StepError
from orchestrator.schedule import jittered
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition

log = logging.getLogger("reelay.artifacts")

RETRY_BASE_S = 5.0
RETRY_MAX_S = 600.0

AuthFor = Callable[[str, str], Mapping[str, str]]
"""(provider, url) -> headers; a provider's own content route needs its API key."""


class Downloader:
    def __init__(
        self,
        store: Store,
        storage: ArtifactStorage,
        client: httpx.AsyncClient,
        *,
        auth_for: AuthFor = lambda provider, url: {},
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        concurrency: int = 8,
        max_bytes: int = 512 * 1024 * 1024,
        max_attempts: int = 8,
        lease_s: float = 900.0,
        tick_s: float = 1.0,
    ) -> None:
        self._store = store
        self._storage = storage
        self._client = client
        self._auth_for = auth_for
        self._clock = clock
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._max_bytes = max_bytes
        self._max_attempts = max_attempts
        self._lease_s = lease_s
        self._loop: ClaimLoop[Download] = ClaimLoop(
            claim=self._claim,
            perform=self._download,
            next_due=store.next_download_due,
            clock=clock,
            concurrency=concurrency,
            tick_s=tick_s,
            name="downloads",
            logger=log,
        )
        self._recording = Outage("recording downloads", log)

    def wake(self) -> None:
        self._loop.wake()

    def stop(self) -> None:
        self._loop.stop()

    async def run_once(self) -> int:
        """Fetch every due download once and record the outcomes."""
        claimed = await self._claim(self._concurrency)
        await asyncio.gather(*(self._download(d) for d in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Download until ``stop``; downloads in flight then are dropped and, their leases
        running out, done again later (content addressing keeps one copy)."""
        await self._loop.run()

    async def _claim(self, limit: int) -> list[Download]:
        now = self._clock()

        async def job(tx: Transaction) -> list[Download]:
            return await tx.artifacts.due_downloads(now, limit, now + self._lease_s)

        return await self._store.run(job)

    async def _download(self, download: Download) -> None:
        result = await fetch(
            self._client,
            download.url,
            self._auth_for(download.provider, download.url),
            self._storage.staging_dir(),
            max_bytes=self._max_bytes,
            clock=self._clock,
        )
        if isinstance(result, Fetched):
            try:
                measured = await asyncio.to_thread(probe, result.staged)
            except ProbeFailed as exc:
                result.staged.unlink(missing_ok=True)
                failure = FetchFailed(f"not a playable video: {exc}", retryable=False)
                await self._record(download, failure=failure)
                return
            try:
                stored = await self._storage.put(
                    result.staged, result.sha256, result.size, result.content_type
                )
            except StorageUnavailable as exc:
                result.staged.unlink(missing_ok=True)
                failure = FetchFailed(f"artifact storage unavailable: {exc}", retryable=True)
                await self._record(download, failure=failure)
                return
            artifact = Artifact(
                stored.sha256, stored.size, stored.content_type, stored.key, measured.as_json()
            )
            await self._record(download, artifact=artifact)
        else:
            log.info(
                "download of step %s/%s failed: %s",
                download.pipeline_id,
                download.step,
                result.reason,
                extra=logs.context(download.pipeline_id, download.step),
            )
            await self._record(download, failure=result)

    async def _record(
        self,
        download: Download,
        *,
        artifact: Artifact | None = None,
        failure: FetchFailed | None = None,
    ) -> None:
        now = self._clock()
        attempts = download.attempts + 1
        if artifact is not None:
            done = replace(
                download,
                status=DownloadStatus.STORED,
                attempts=attempts,
                next_attempt_at=None,
                sha256=artifact.sha256,
                error=None,
                updated_at=now,
            )
            event = EventDraft(
                "artifact.stored",
                download.pipeline_id,
                download.step,
                {
                    "index": download.step,
                    "url_index": download.url_index,
                    "sha256": artifact.sha256,
                    "size": artifact.size,
                    "content_type": artifact.content_type,
                    "probe": artifact.probe,
                },
            )
        else:
            assert failure is not None
            done = self._after_failure(download, failure, attempts, now)
            if done.status is DownloadStatus.PENDING:
                event = None
            else:
                event = EventDraft(
                    "artifact.failed",
                    download.pipeline_id,
                    download.step,
                    {"index": download.step, "url_index": download.url_index, "error": done.error},
                )

        async def job(tx: Transaction) -> None:
            if artifact is not None:
                await tx.artifacts.insert_artifact(artifact, now)
            await tx.artifacts.update_downloads([done])
            if event is None:
                return
            await tx.media.inputs_kept(download.pipeline_id, now)
            view = (await tx.pipelines.load([download.pipeline_id]))[download.pipeline_id]
            after = view
            if done.status is DownloadStatus.FAILED:
                after = _with_step_error(view, download.step, done.error or "", now)
            await commit_transition(tx, [(view, after)], now, [event])

        # Tried again while the database is away: the video is fetched (and stored) already.
        await self._recording.retry(lambda: self._store.run(job))

    def _after_failure(
        self, download: Download, failure: FetchFailed, attempts: int, now: float
    ) -> Download:
        if failure.retryable and attempts < self._max_attempts:
            longest = backoff.ceiling(attempts, base_s=RETRY_BASE_S, max_s=RETRY_MAX_S)
            delay = jittered(longest, self._rng)
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, RETRY_MAX_S))
            if download.expires_at is None or now + delay < download.expires_at:
                return replace(
                    download,
                    attempts=attempts,
                    next_attempt_at=now + delay,
                    error=failure.reason,
                    updated_at=now,
                )
            reason = (
                f"{failure.reason}; the link expires before another attempt could finish, "
                "so the video could not be kept"
            )
        elif failure.retryable:
            reason = f"gave up after {attempts} attempts; last: {failure.reason}"
        else:
            reason = failure.reason
        return replace(
            download,
            status=DownloadStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            error=reason,
            updated_at=now,
        )


def _with_step_error(view: PipelineView, index: int, message: str, now: float) -> PipelineView:
    """The step stays succeeded (its task did); its error field says the video was not kept."""
    steps = list(view.steps)
    steps[index] = replace(
        steps[index], error=StepError("ARTIFACT_FAILED", message), updated_at=now
    )
    return PipelineView(view.pipeline, tuple(steps))
