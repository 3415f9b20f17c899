"""What the replicas sharing a database keep there: heartbeats, shared secrets, readiness."""

from __future__ import annotations

import os
import socket

from orchestrator.store import queries as q
from orchestrator.store.backend import Connection


class ReplicaTx:
    """``tx.replicas``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def heartbeat(self, replica: str, now: float, forget_before: float) -> None:
        """This replica is alive; replicas silent since ``forget_before`` are forgotten."""
        host, pid = socket.gethostname(), os.getpid()
        await self._conn.execute(q.UPSERT_REPLICA, (replica, host, pid, now, now))
        await self._conn.execute(q.DELETE_GONE_REPLICAS, (forget_before,))

    async def leave(self, replica: str) -> None:
        """This replica stops: whatever it still has in flight is orphaned at once."""
        await self._conn.execute(q.DELETE_REPLICA, (replica,))

    async def secret(self, name: str, candidate: str, now: float) -> str:
        """The stored secret ``name``; ``candidate`` becomes it if none exists yet."""
        await self._conn.execute(q.INSERT_STORED_VALUE, (name, candidate, now))
        value = await self._conn.fetchval(q.SELECT_STORED_VALUE, (name,))
        return str(value)

    async def touch_readiness(self, now: float) -> None:
        """A one-row write that proves the database takes writes (``/readyz``)."""
        await self._conn.execute(q.TOUCH_READINESS, (now,))
