"""Media job rows in a transaction: last frames to extract and whole videos to make."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from orchestrator.domain.media import MediaJob, MediaKind, MediaStatus
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection
from orchestrator.store.rows import Row


def media_from_row(row: Row) -> MediaJob:
    kind: MediaKind = "frame" if row["kind"] == "frame" else "video"
    return MediaJob(
        pipeline_id=row["pipeline_id"],
        step=row["step_idx"],
        kind=kind,
        status=MediaStatus(row["status"]),
        attempts=row["attempts"],
        next_at=row["next_at"],
        result={} if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _update_values(job: MediaJob) -> tuple[Any, ...]:
    result = json.dumps(job.result, sort_keys=True) if job.result else None
    return (
        str(job.status),
        job.attempts,
        job.next_at,
        result,
        job.error,
        job.updated_at,
        *job.key,
    )


class MediaTx:
    """``tx.media``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def enqueue(
        self,
        jobs: Iterable[tuple[str, int, MediaKind]],
        now: float,
        look_at: float,
        *,
        again: bool = True,
    ) -> None:
        """Each (pipeline, step, kind) waits for its downloads, looked at by ``look_at`` at
        the latest. A finished one is made again, unless not ``again``."""
        rows = [(pid, step, kind, look_at, now, now) for pid, step, kind in jobs]
        if rows:
            sql = q.ENQUEUE_MEDIA if again else q.ENQUEUE_MEDIA_ONCE
            await self._conn.executemany(sql, rows)

    async def inputs_kept(self, pipeline_id: str, now: float) -> None:
        """A download of the pipeline was recorded: its waiting jobs look again now."""
        await self._conn.execute(q.MEDIA_INPUTS_KEPT, (now, pipeline_id, now))

    async def due(self, now: float, limit: int, lease_until: float) -> list[MediaJob]:
        sql = q.DUE_MEDIA.format(lock=self._conn.skip_locked_clause)
        due = [media_from_row(r) for r in await self._conn.fetch(sql, (now, limit))]
        if due:
            await self._conn.executemany(q.LEASE_MEDIA, [(lease_until, *j.key) for j in due])
        return due

    async def update(self, jobs: Collection[MediaJob]) -> None:
        if jobs:
            await self._conn.executemany(q.UPDATE_MEDIA, [_update_values(j) for j in jobs])

    async def of(self, pipeline_id: str) -> list[MediaJob]:
        return [media_from_row(r) for r in await self._conn.fetch(q.MEDIA_OF, (pipeline_id,))]
