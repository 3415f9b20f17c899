"""Pipelines, their steps and events: loaded (locked) and written as given."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from orchestrator.domain.models import Event, Pipeline, PipelineView, Step
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection, chunks, placeholders
from orchestrator.store.job import JobMarks
from orchestrator.store.rows import (
    event_data,
    pipeline_from_row,
    pipeline_update_values,
    pipeline_values,
    step_from_row,
    step_update_values,
    step_values,
)


async def load_views(
    conn: Connection, pipeline_ids: Collection[str], lock: str
) -> dict[str, PipelineView]:
    """Pipelines with their steps; ``lock`` is appended to the pipelines' select."""
    views: dict[str, PipelineView] = {}
    for chunk in chunks(sorted(set(pipeline_ids))):
        sql = q.SELECT_PIPELINES_IN.format(ids=placeholders(chunk), lock=lock)
        prows = await conn.fetch(sql, chunk)
        found = [r["id"] for r in prows]  # not unknown ids, nor rows another transaction holds
        if not found:
            continue
        srows = await conn.fetch(q.SELECT_STEPS_IN.format(ids=placeholders(found)), found)
        steps: dict[str, list[Step]] = {}
        for row in srows:
            step = step_from_row(row)
            steps.setdefault(step.pipeline_id, []).append(step)
        for row in prows:
            pipeline = pipeline_from_row(row)
            views[pipeline.id] = PipelineView(pipeline, tuple(steps.get(pipeline.id, ())))
    return views


class PipelineTx:
    """``tx.pipelines``. Locking, for several replicas: every write to a step first locks
    its pipeline's row, pipelines in id order, so writers queue in one order."""

    def __init__(self, conn: Connection, job: JobMarks) -> None:
        self._conn = conn
        self._job = job

    async def load(
        self, pipeline_ids: Collection[str], *, skip_locked: bool = False
    ) -> dict[str, PipelineView]:
        """Pipelines with their steps, locked for this transaction where the database can.

        ``skip_locked``: leave out pipelines another transaction holds instead of waiting.
        """
        lock = self._conn.skip_locked_clause if skip_locked else self._conn.lock_clause
        return await load_views(self._conn, pipeline_ids, lock)

    async def by_idempotency_key(self, key: str) -> PipelineView | None:
        rows = await self._conn.fetch(q.SELECT_PIPELINE_BY_KEY, (key,))
        if not rows:
            return None
        return (await self.load([rows[0]["id"]]))[rows[0]["id"]]

    async def by_idempotency_keys(self, keys: Collection[str]) -> dict[str, PipelineView]:
        """The pipelines created with any of ``keys``, by key; unknown keys are left out."""
        ids: list[str] = []
        for chunk in chunks(sorted(set(keys))):
            sql = q.SELECT_PIPELINE_IDS_BY_KEYS.format(keys=placeholders(chunk))
            ids += [row["id"] for row in await self._conn.fetch(sql, chunk)]
        views = await self.load(ids) if ids else {}
        return {k: v for v in views.values() if (k := v.pipeline.idempotency_key) is not None}

    async def lock_pipelines(self, pipeline_ids: Collection[str]) -> None:
        """Lock these pipelines' rows, in id order, before writing any of their steps."""
        if not self._conn.lock_clause:
            return
        for chunk in chunks(sorted(set(pipeline_ids))):
            sql = q.LOCK_PIPELINES_IN.format(ids=placeholders(chunk), lock=self._conn.lock_clause)
            await self._conn.fetch(sql, chunk)

    async def write(
        self,
        *,
        new_pipelines: Sequence[Pipeline] = (),
        changed_pipelines: Sequence[Pipeline] = (),
        new_steps: Sequence[Step] = (),
        changed_steps: Sequence[Step] = (),
    ) -> None:
        """Insert and update exactly these rows."""
        if new_pipelines:
            await self._conn.executemany(
                q.INSERT_PIPELINE, [pipeline_values(p) for p in new_pipelines]
            )
        if changed_pipelines:
            await self._conn.executemany(
                q.UPDATE_PIPELINE, [pipeline_update_values(p) for p in changed_pipelines]
            )
        if new_steps:
            await self._conn.executemany(q.INSERT_STEP, [step_values(s) for s in new_steps])
        if changed_steps:
            await self._conn.executemany(
                q.UPDATE_STEP, [step_update_values(s) for s in changed_steps]
            )

    async def append_events(self, events: Sequence[Event]) -> None:
        """Append events already numbered per pipeline (their ``id`` is the database's)."""
        if not events:
            return
        self._job.wrote_events = True
        # Held to the commit: event ids then follow commit order, so a reader's cursor
        # (SSE Last-Event-ID) never passes an id that another writer commits later.
        await self._conn.lock("events")
        rows = [
            (e.pipeline_id, e.seq, e.type, e.step, event_data(e.data), e.created_at) for e in events
        ]
        await self._conn.executemany(q.INSERT_EVENT, rows)
