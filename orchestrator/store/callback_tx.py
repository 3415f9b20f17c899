"""Provider callbacks: which step owns a task, recording callbacks, and the polls they hint."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from orchestrator.domain.models import Step
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection, chunks, placeholders
from orchestrator.store.job import JobMarks
from orchestrator.store.pipeline_tx import PipelineTx


class CallbackTx:
    """``tx.callbacks``."""

    def __init__(self, conn: Connection, job: JobMarks, pipelines: PipelineTx) -> None:
        self._conn = conn
        self._job = job
        self._pipelines = pipelines

    async def step_tasks(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], str | None]:
        """The provider task id of each existing step among ``keys`` (None: not yet known)."""
        found: dict[tuple[str, int], str | None] = {}
        for chunk in chunks(sorted({p for p, _ in keys})):
            sql = q.STEP_TASKS_OF.format(ids=placeholders(chunk))
            for row in await self._conn.fetch(sql, chunk):
                key = (row["pipeline_id"], row["idx"])
                if key in keys:
                    found[key] = row["provider_task_id"]
        return found

    async def owners_of_tasks(
        self, provider: str, task_ids: Collection[str]
    ) -> dict[str, tuple[str, int]]:
        """Which step owns each of these provider task ids, for those that are known."""
        owners: dict[str, tuple[str, int]] = {}
        for chunk in chunks(sorted(set(task_ids))):
            sql = q.OWNERS_OF_TASKS.format(ids=placeholders(chunk))
            for row in await self._conn.fetch(sql, (provider, *chunk)):
                owners[row["provider_task_id"]] = (row["pipeline_id"], row["idx"])
        return owners

    async def step_by_task(self, provider: str, task_id: str) -> tuple[str, int] | None:
        rows = await self._conn.fetch(q.STEP_BY_TASK, (provider, task_id))
        return (rows[0]["pipeline_id"], rows[0]["idx"]) if rows else None

    async def insert_callbacks(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(provider, task_id, state, pipeline_id, step_idx, body, received_at) rows."""
        if rows:
            await self._conn.executemany(q.INSERT_CALLBACK, rows)

    async def hint_steps(self, hints: Collection[tuple[str, int, str]], now: float) -> None:
        """Poll these (pipeline_id, idx, task_id) steps now, if they are still in flight."""
        if hints:
            await self._pipelines.lock_pipelines({p for p, _, _ in hints})
            await self._conn.executemany(q.HINT_STEP, [(now, p, i, t, now) for p, i, t in hints])
            self._job.made_due = True

    async def tasks_with_callbacks(self, provider: str, task_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(sorted(set(task_ids))):
            sql = q.CALLBACKS_OF_TASKS.format(ids=placeholders(chunk))
            found |= {r["task_id"] for r in await self._conn.fetch(sql, (provider, *chunk))}
        return found

    async def latest_terminal_callback(self, step: Step) -> str | None:
        rows = await self._conn.fetch(
            q.LATEST_TERMINAL_CALLBACK,
            (step.pipeline_id, step.index, step.provider, step.provider_task_id),
        )
        return str(rows[0]["body"]) if rows else None

    async def adoptable(self) -> list[tuple[str, int, str]]:
        """Ambiguous steps a callback has since identified: (pipeline id, index, task id)."""
        rows = await self._conn.fetch(q.ADOPTABLE)
        return [(r["pipeline_id"], r["idx"], r["task_id"]) for r in rows]
