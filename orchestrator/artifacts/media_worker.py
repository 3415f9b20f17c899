"""Media work after downloads: last frames for continuations, and each branch's whole video.

Jobs are rows (``domain.media``), written by the downloader when a kept video is what a job
waits for, and by ``transitions`` when a branch ends without success. This worker claims due
ones (leased, like downloads) and:

- ``frame``: extracts the last frame of a step's video, keeps it as a PNG (content-addressed,
  like every artifact) and hands its key to the continuations that start from it, which makes
  them due;
- ``video``: makes the whole video from the base to a leaf. When the leaf's file already holds
  its ancestors it is the answer; otherwise the segments are joined (stream copy when their
  codec parameters match) and the result kept. ``video.stitched`` announces it.

A job whose input is still downloading waits; one whose input was never kept fails, saying
which step's video is missing. Storage faults are retried with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.artifacts.frames import last_frame
from orchestrator.artifacts.pictures import same_picture
from orchestrator.artifacts.probe import ProbeFailed, probe
from orchestrator.artifacts.stitch import JoinFailed, Segment, join
from orchestrator.artifacts.storage import ArtifactStorage, StorageUnavailable
from orchestrator.claim_loop import ClaimLoop
from orchestrator.common import backoff, logs
from orchestrator.domain import pipelines as pipeline_rules
from orchestrator.domain import steps as step_rules
from orchestrator.domain.artifacts import Artifact, DownloadStatus, StepArtifact
from orchestrator.domain.media import MediaJob, MediaStatus, Piece, branch, last_good, pieces
from orchestrator.domain.models import EventDraft, PipelineView, StepError, StepStatus
from orchestrator.schedule import jittered
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition

log = logging.getLogger("reelay.media")

WAIT_S = 30.0
"""When a job whose input is still downloading looks again at the latest (the downloader
makes it sooner when it records the download)."""
RETRY_BASE_S = 5.0
RETRY_MAX_S = 600.0
MAX_ATTEMPTS = 8


class _Wait(Exception):
    """An input is not kept yet: look again soon, without counting an attempt."""


class _Fail(Exception):
    """The job can never succeed; the message says why."""


@dataclass(frozen=True, slots=True)
class _Made:
    result: dict[str, Any]
    event: EventDraft | None


class MediaWorker:
    def __init__(
        self,
        store: Store,
        storage: ArtifactStorage,
        *,
        wake_engine: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        concurrency: int = 2,
        lease_s: float = 900.0,
        tick_s: float = 1.0,
    ) -> None:
        self._store = store
        self._storage = storage
        self._wake_engine = wake_engine
        self._clock = clock
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._loop: ClaimLoop[MediaJob] = ClaimLoop(
            claim=self._claim,
            perform=self._perform,
            next_due=store.next_media_due,
            clock=clock,
            concurrency=concurrency,
            tick_s=tick_s,
            name="media jobs",
            logger=log,
        )
        self._recording = backoff.Outage("recording media jobs", log)

    def wake(self) -> None:
        self._loop.wake()

    def stop(self) -> None:
        self._loop.stop()

    async def run(self) -> None:
        await self._loop.run()

    async def run_once(self) -> int:
        """Do every due job once (tests)."""
        claimed = await self._claim(self._concurrency)
        await asyncio.gather(*(self._perform(j) for j in claimed))
        return len(claimed)

    async def _claim(self, limit: int) -> list[MediaJob]:
        now = self._clock()

        async def job(tx: Transaction) -> list[MediaJob]:
            return await tx.media.due(now, limit, now + self._lease_s)

        return await self._store.run(job)

    async def _perform(self, job: MediaJob) -> None:
        context = logs.context(job.pipeline_id, job.step)
        try:
            made = await (self._frame(job) if job.kind == "frame" else self._video(job))
        except _Wait as exc:
            waiting = replace(
                job, status=MediaStatus.WAITING, next_at=self._clock() + WAIT_S, error=str(exc)
            )
            await self._finish(job, waiting, inputs_awaited=True)
        except _Fail as exc:
            log.info("%s of step %s/%s failed: %s", job.kind, *job.key[:2], exc, extra=context)
            await self._give_up(job, str(exc))
        except (StorageUnavailable, OSError) as exc:
            attempts = job.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._give_up(job, f"gave up after {attempts} attempts; last: {exc}")
                return
            ceiling = backoff.ceiling(attempts, base_s=RETRY_BASE_S, max_s=RETRY_MAX_S)
            later = self._clock() + jittered(ceiling, self._rng)
            again = replace(
                job,
                status=MediaStatus.WAITING,
                attempts=attempts,
                next_at=later,
                error=f"will retry: {exc}",
            )
            await self._finish(job, again)
        else:
            now = self._clock()
            done = replace(
                job,
                status=MediaStatus.DONE,
                attempts=job.attempts + 1,
                next_at=None,
                result=made.result,
                error=None,
                updated_at=now,
            )
            await self._finish(done, done, made.event, frame_for=job.kind == "frame")

    async def _finish(
        self,
        job: MediaJob,
        after: MediaJob,
        event: EventDraft | None = None,
        *,
        frame_for: bool = False,
        unable: str | None = None,
        inputs_awaited: bool = False,
    ) -> None:
        now = self._clock()
        after = replace(after, updated_at=now)

        async def write(tx: Transaction) -> bool:
            written = after
            # A download recorded while this job was at work could not make it due then.
            if inputs_awaited and not await tx.artifacts.downloads_pending(job.pipeline_id):
                written = replace(after, next_at=now)
            await tx.media.update([written])
            if event is None and not frame_for and unable is None:
                return False
            view = (await tx.pipelines.load([job.pipeline_id]))[job.pipeline_id]
            changed = view
            if frame_for:
                changed = _with_first_frame(view, job.step, after.result["key"], now)
            elif unable is not None:
                changed = _unable(view, job.step, unable, now)
            await commit_transition(tx, [(view, changed)], now, [] if event is None else [event])
            return changed is not view

        made_due = await self._recording.retry(lambda: self._store.run(write))
        if made_due:
            self._wake_engine()

    async def _give_up(self, job: MediaJob, reason: str) -> None:
        failed = replace(job, status=MediaStatus.FAILED, next_at=None, error=reason)
        if job.kind == "frame":
            message = f"step {job.step}'s last frame could not be extracted: {reason}"
            event = EventDraft("frame.failed", job.pipeline_id, job.step, {"error": reason})
            await self._finish(job, failed, event, unable=message)
        else:
            event = EventDraft(
                "video.failed", job.pipeline_id, job.step, {"leaf": job.step, "error": reason}
            )
            await self._finish(job, failed, event)

    async def _inputs(self, view: PipelineView, steps: list[int]) -> dict[int, Artifact]:
        """The kept video of each of ``steps``: waits while one downloads, fails when one
        was not kept (or its task reported none)."""
        kept: dict[int, StepArtifact] = {
            a.step: a
            for a in await self._store.step_artifacts([view.pipeline.id])
            if a.url_index == 0 and a.step in steps
        }
        found: dict[int, Artifact] = {}
        for index in steps:
            item = kept.get(index)
            if item is None and not view.steps[index].video_urls:
                raise _Fail(f"step {index}'s task reported no video")
            if item is None or item.status is DownloadStatus.PENDING:
                raise _Wait(f"waiting for step {index}'s video to be kept")
            if item.status is not DownloadStatus.STORED or item.artifact is None:
                raise _Fail(f"step {index}'s video was not kept: {item.error or item.status}")
            found[index] = item.artifact
        return found

    async def _fetch(self, artifact: Artifact, into: Path) -> Path:
        """A local copy of a stored object (the storage may be remote)."""
        path = into / f"{artifact.sha256}{Path(artifact.storage_key).suffix}"
        if path.exists():
            return path
        with path.open("wb") as out:
            async for chunk in self._storage.read(artifact.storage_key):
                out.write(chunk)
        return path

    async def _frame(self, job: MediaJob) -> _Made:
        view = await self._store.get(job.pipeline_id)
        if view is None or job.step >= len(view.steps):
            raise _Fail(f"pipeline {job.pipeline_id} has no step {job.step}")
        video = (await self._inputs(view, [job.step]))[job.step]
        with tempfile.TemporaryDirectory(dir=self._storage.staging_dir()) as work:
            source = await self._fetch(video, Path(work))
            try:
                png, signature = await asyncio.to_thread(last_frame, source)
            except ProbeFailed as exc:
                raise _Fail(str(exc)) from None
            stored = await self._keep(png, Path(work) / "frame.png", "image/png", None)
        result = {"key": stored.storage_key, "sha256": stored.sha256, "signature": signature}
        event = EventDraft(
            "frame.extracted",
            job.pipeline_id,
            job.step,
            {"index": job.step, "sha256": stored.sha256, "size": stored.size},
        )
        return _Made(result, event)

    async def _keep(
        self, data: bytes | Path, staged: Path, content_type: str, measured: dict[str, Any] | None
    ) -> Artifact:
        if isinstance(data, bytes):
            await asyncio.to_thread(staged.write_bytes, data)
        else:
            staged = data
        sha256, size = await asyncio.to_thread(_digest, staged)
        stored = await self._storage.put(staged, sha256, size, content_type)
        artifact = Artifact(stored.sha256, stored.size, stored.content_type, stored.key, measured)
        now = self._clock()

        async def write(tx: Transaction) -> None:
            await tx.artifacts.insert_artifact(artifact, now)

        await self._recording.retry(lambda: self._store.run(write))
        return artifact

    async def _video(self, job: MediaJob) -> _Made:
        view = await self._store.get(job.pipeline_id)
        if view is None or job.step >= len(view.steps):
            raise _Fail(f"pipeline {job.pipeline_id} has no step {job.step}")
        upto = last_good(view, job.step)
        if upto is None:
            raise _Fail("no step of this branch succeeded, so there is no video")
        chain = [s.index for s in branch(view, upto)]
        kept = await self._inputs(view, chain)
        probes: dict[int, dict[str, Any]] = {}
        for index, artifact in kept.items():
            if artifact.probe is None:
                raise _Fail(f"step {index}'s video was kept before reelay measured videos")
            probes[index] = artifact.probe
        seams = await self._seams(view, chain, probes)
        parts = pieces(view, upto, probes, same_picture, seams)
        if len(parts) == 1 and not parts[0].drop_first_frame:
            whole = kept[parts[0].step]
            method, reason, dropped = "whole", "", 0
        else:
            with tempfile.TemporaryDirectory(dir=self._storage.staging_dir()) as work:
                where = Path(work)
                segments = [
                    Segment(await self._fetch(kept[p.step], where), p.drop_first_frame)
                    for p in parts
                ]
                out = where / "whole.mp4"
                try:
                    joined = await asyncio.to_thread(join, segments, out)
                    measured = await asyncio.to_thread(probe, out)
                except (JoinFailed, ProbeFailed) as exc:
                    raise _Fail(f"the segments could not be joined: {exc}") from None
                whole = await self._keep(out, out, "video/mp4", measured.as_json())
            method, reason, dropped = joined.method, joined.reason, joined.dropped_frames
        result = {
            "leaf": job.step,
            "upto": upto,
            "partial": upto != job.step,
            "method": method,
            "reason": reason,
            "segments": [_piece_json(p) for p in parts],
            "dropped_frames": dropped,
            "sha256": whole.sha256,
            "size": whole.size,
            "key": whole.storage_key,
            "content_type": whole.content_type,
            "probe": whole.probe,
        }
        data = {k: v for k, v in result.items() if k not in ("key", "content_type")}
        return _Made(result, EventDraft("video.stitched", job.pipeline_id, job.step, data))

    async def _seams(
        self, view: PipelineView, chain: list[int], probes: dict[int, dict[str, Any]]
    ) -> dict[int, bool]:
        """For each continuation of the chain, whether its video really starts with its
        parent's last frame (then that repeated frame is dropped when joining)."""
        frames = {
            j.step: j.result.get("signature")
            for j in await self._store.media_jobs(view.pipeline.id)
            if j.kind == "frame" and j.status is MediaStatus.DONE
        }
        seams: dict[int, bool] = {}
        for index in chain:
            step = view.steps[index]
            if not step.continues or step.parent is None:
                continue
            last, first = frames.get(step.parent), probes[index].get("first_frame")
            seams[index] = True if last is None or first is None else same_picture(last, first)
        return seams


def _piece_json(piece: Piece) -> dict[str, Any]:
    return {"step": piece.step, "drop_first_frame": piece.drop_first_frame}


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _with_first_frame(view: PipelineView, parent: int, key: str, now: float) -> PipelineView:
    """Every continuation of ``parent`` still waiting for its first frame gets it, and so
    becomes due."""
    steps = tuple(
        replace(s, first_frame=key, updated_at=now)
        if s.continues
        and s.parent == parent
        and s.status is StepStatus.PENDING
        and s.first_frame is None
        else s
        for s in view.steps
    )
    if steps == view.steps:
        return view
    return pipeline_rules.settle(PipelineView(view.pipeline, steps), now)


def _unable(view: PipelineView, parent: int, message: str, now: float) -> PipelineView:
    """The continuations of ``parent`` can never start: they fail, and so does the pipeline."""
    error = StepError("FRAME_UNAVAILABLE", message)
    steps = tuple(
        step_rules.unable(s, now, error) if s.continues and s.parent == parent else s
        for s in view.steps
    )
    if steps == view.steps:
        return view
    return pipeline_rules.settle(PipelineView(view.pipeline, steps), now)
