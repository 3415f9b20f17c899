"""The store: durable pipelines, steps and events, behind one interface for every database.

A backend (SQLite, PostgreSQL) only runs SQL; the transaction's parts say which rows a job
reads and writes; the writer runs jobs (group commit, retries); the reads serve everyone else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestrator.store.backend import Backend
from orchestrator.store.reads import Reads
from orchestrator.store.transaction import Transaction
from orchestrator.store.writer import Writer

T = TypeVar("T")


class Store(Reads):
    """Everything the engine and the API persist."""

    def __init__(self, backend: Backend, *, keep_videos: bool = True) -> None:
        """``keep_videos``: write the downloads and media jobs a change asks for."""
        super().__init__(backend)
        self._writer = Writer(backend, keep_videos=keep_videos)

    @property
    def instance(self) -> str:
        """This process's name among the replicas sharing the database."""
        return self._writer.instance

    @property
    def shared(self) -> bool:
        """Whether other replicas may write this database at the same time."""
        return self._backend.shared

    async def migrate(self) -> None:
        await self._backend.migrate()

    async def close(self) -> None:
        await self._writer.drain()
        await self._backend.close()

    async def run(self, job: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``job`` in a write transaction; returns its result once committed.

        A job must only use the transaction it is given. On SQLite it runs in the writer's
        task, after and before other jobs of the same transaction; on PostgreSQL it has a
        transaction of its own, which is run again from the start if the server aborts it as
        a deadlock victim. A cancelled caller does not cancel its job.
        """
        return await self._writer.run(job)

    async def listen(self, on_remote: Callable[[], None]) -> None:
        """Whenever another replica commits work that may be due here (events, a callback),
        call ``on_remote`` and the commit listeners (the stream, deliverer and downloader)."""
        await self._writer.listen(on_remote)

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """``listener`` runs after every committed transaction that appended events (and so
        possibly webhook messages and downloads): the stream, the deliverer and the downloader
        wait on it. Not after every transaction: a claim must not wake its own claimer."""
        self._writer.add_listener(listener)

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        self._writer.remove_listener(listener)
