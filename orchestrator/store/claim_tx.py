"""Claiming due work: submits and polls, leases on them, and submits whose replica is gone.

Claims lock with SKIP LOCKED and never wait.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from orchestrator.store import queries as q
from orchestrator.store.backend import Connection
from orchestrator.store.job import JobMarks
from orchestrator.store.pipeline_tx import PipelineTx


class ClaimTx:
    """``tx.claims``."""

    def __init__(self, conn: Connection, job: JobMarks, pipelines: PipelineTx) -> None:
        self._conn = conn
        self._job = job
        self._pipelines = pipelines

    async def due_submits(self, provider: str, now: float, limit: int) -> list[tuple[str, int]]:
        sql = q.DUE_SUBMITS.format(lock=self._conn.skip_locked_clause)
        rows = await self._conn.fetch(sql, (provider, now, limit))
        return [(r["pipeline_id"], r["idx"]) for r in rows]

    async def due_polls(self, provider: str, now: float, limit: int) -> list[tuple[str, int]]:
        """Steps whose next poll is due (lock their pipelines, then ``lease_polls``)."""
        sql = q.DUE_POLLS.format(lock=self._conn.skip_locked_clause)
        rows = await self._conn.fetch(sql, (provider, now, limit))
        return [(r["pipeline_id"], r["idx"]) for r in rows]

    async def lease_polls(self, leases: Mapping[tuple[str, int], float]) -> None:
        """Push each poll to its lease's end so that nobody else makes it meanwhile."""
        if leases:
            rows = [(until, p, i) for (p, i), until in leases.items()]
            await self._conn.executemany(q.LEASE_POLL, rows)

    async def release_polls(self, keys: Collection[tuple[str, int]], now: float) -> None:
        """Polls that were leased but never made are due again now."""
        if keys:
            await self._pipelines.lock_pipelines({p for p, _ in keys})
            await self._conn.executemany(q.RELEASE_POLL, [(now, p, i) for p, i in keys])
            self._job.made_due = True

    async def in_flight_of(self, provider: str, up_to: int) -> int:
        """Tasks of ``provider`` submitted (or being submitted) and not finished, counted up
        to ``up_to``."""
        return int(await self._conn.fetchval(q.IN_FLIGHT_OF, (provider, up_to)) or 0)

    async def lock_provider(self, provider: str) -> None:
        """Serialize claims of ``provider``'s submits across replicas until this commits (so
        that in-flight counts are not read twice before either is written)."""
        await self._conn.lock(f"provider:{provider}")

    async def orphaned_submits(
        self, replica: str, alive_since: float
    ) -> list[tuple[str, int, str | None]]:
        """(pipeline id, index, replica) of submits in flight whose replica is not alive: no
        heartbeat since ``alive_since``. Never ``replica``'s own."""
        rows = await self._conn.fetch(q.ORPHANED_SUBMITS, (replica, alive_since))
        return [(r["pipeline_id"], r["idx"], r["claimed_by"]) for r in rows]

    async def claimed_submits(self, replica: str) -> list[tuple[str, int]]:
        """Submits in flight that ``replica`` claimed."""
        rows = await self._conn.fetch(q.CLAIMED_SUBMITS, (replica,))
        return [(r["pipeline_id"], r["idx"]) for r in rows]
