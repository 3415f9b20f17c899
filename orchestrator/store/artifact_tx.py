"""Artifact rows in a transaction (downloads to do, stored artifacts, retention), and what
the API shows of them."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from orchestrator.domain.artifacts import Artifact, Download, DownloadStatus, StepArtifact
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection, chunks, placeholders
from orchestrator.store.rows import Row


def download_from_row(row: Row) -> Download:
    return Download(
        pipeline_id=row["pipeline_id"],
        step=row["step_idx"],
        url_index=row["url_idx"],
        provider=row["provider"],
        url=row["url"],
        status=DownloadStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        expires_at=row["expires_at"],
        sha256=row["sha256"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def download_values(d: Download) -> tuple[Any, ...]:
    return (
        d.pipeline_id,
        d.step,
        d.url_index,
        d.provider,
        d.url,
        str(d.status),
        d.attempts,
        d.next_attempt_at,
        d.expires_at,
        d.sha256,
        d.error,
        d.created_at,
        d.updated_at,
    )


class ArtifactTx:
    """``tx.artifacts``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert_downloads(self, downloads: Sequence[Download]) -> None:
        if downloads:
            await self._conn.executemany(q.INSERT_DOWNLOAD, [download_values(d) for d in downloads])

    async def due_downloads(self, now: float, limit: int, lease_until: float) -> list[Download]:
        sql = q.DUE_DOWNLOADS.format(lock=self._conn.skip_locked_clause)
        due = [download_from_row(r) for r in await self._conn.fetch(sql, (now, limit))]
        if due:
            await self._conn.executemany(q.LEASE_DOWNLOAD, [(lease_until, *d.key) for d in due])
        return due

    async def update_downloads(self, downloads: Collection[Download]) -> None:
        if downloads:
            await self._conn.executemany(
                q.UPDATE_DOWNLOAD,
                [
                    (
                        str(d.status),
                        d.attempts,
                        d.next_attempt_at,
                        d.sha256,
                        d.error,
                        d.updated_at,
                        *d.key,
                    )
                    for d in downloads
                ],
            )

    async def downloads_pending(self, pipeline_id: str) -> int:
        """Downloads of the pipeline not yet stored or given up on."""
        return int(await self._conn.fetchval(q.DOWNLOADS_PENDING_OF, (pipeline_id,)) or 0)

    async def insert_artifact(self, artifact: Artifact, now: float) -> None:
        await self._conn.execute(
            q.INSERT_ARTIFACT,
            (
                artifact.sha256,
                artifact.size,
                artifact.content_type,
                artifact.storage_key,
                None if artifact.probe is None else json.dumps(artifact.probe, sort_keys=True),
                now,
            ),
        )

    async def prunable_artifacts(
        self, created_before: float, finished_before: float, limit: int
    ) -> list[tuple[str, str]]:
        rows = await self._conn.fetch(
            q.PRUNABLE_ARTIFACTS, (created_before, finished_before, limit)
        )
        return [(r["sha256"], r["storage_key"]) for r in rows]

    async def forget_artifact(self, sha256: str, now: float) -> None:
        await self._conn.execute(q.MARK_PRUNED, (now, sha256))
        await self._conn.execute(q.DELETE_ARTIFACT, (sha256,))


async def step_artifacts(conn: Connection, pipeline_ids: Collection[str]) -> list[StepArtifact]:
    found: list[StepArtifact] = []
    for chunk in chunks(sorted(set(pipeline_ids))):
        sql = q.ARTIFACTS_OF.format(ids=placeholders(chunk))
        for r in await conn.fetch(sql, chunk):
            artifact = None
            if r["sha256"] is not None and r["storage_key"] is not None:
                probe = None if r["probe"] is None else json.loads(r["probe"])
                artifact = Artifact(
                    r["sha256"], r["size"], r["content_type"], r["storage_key"], probe
                )
            found.append(
                StepArtifact(
                    pipeline_id=r["pipeline_id"],
                    step=r["step_idx"],
                    url_index=r["url_idx"],
                    status=DownloadStatus(r["status"]),
                    error=r["error"],
                    artifact=artifact,
                )
            )
    return found
