"""Running write jobs: grouped into shared transactions on SQLite, one each on PostgreSQL.

On SQLite (one writer) jobs that arrive while a transaction is being written are grouped into
the next one (group commit), each inside its own savepoint so that one failing job rolls back
alone; every caller is answered only after the commit. Per-transaction cost, not SQL, is what
limits a store on these machines (measured: ~3-4x). On PostgreSQL, which several replicas
share, each job is its own transaction, run concurrently from a pool and retried when the
server picks it as a deadlock victim.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from orchestrator.store.backend import Backend
from orchestrator.store.transaction import Transaction

log = logging.getLogger("reelay.store")

_MAX_JOBS_PER_COMMIT = 500
_TRANSIENT_RETRIES = 8

T = TypeVar("T")
Job = Callable[[Transaction], Awaitable[Any]]


class Writer:
    def __init__(self, backend: Backend, *, keep_videos: bool = True) -> None:
        self._backend = backend
        self._keep_videos = keep_videos
        self._jobs: list[tuple[Job, asyncio.Future[Any]]] = []
        self._writing: asyncio.Task[None] | None = None
        self._alone: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[], None]] = []
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        """This process's name among the replicas sharing the database."""

    async def run(self, job: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``job`` in a write transaction; returns its result once committed (see
        ``Store.run``)."""
        if self._backend.shared:
            task = asyncio.ensure_future(self._run_alone(job))
            self._alone.add(task)
            task.add_done_callback(self._alone.discard)
            return await asyncio.shield(task)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append((job, future))
        if self._writing is None or self._writing.done():
            # The writer outlives a cancelled caller: other callers' jobs ride on it.
            self._writing = asyncio.create_task(self._write_all())
        return await future

    async def drain(self) -> None:
        """Wait for every job given so far to be answered."""
        if self._writing is not None:
            await self._writing
        if self._alone:
            await asyncio.wait(self._alone)

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.remove(listener)

    async def listen(self, on_remote: Callable[[], None]) -> None:
        """Call ``on_remote`` and the listeners whenever another replica's commit may have
        made work due here."""

        def heard(payload: str) -> None:
            if payload != self.instance:
                on_remote()
                self._committed_events()

        await self._backend.listen(heard)

    def _committed_events(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def _run_alone(self, job: Callable[[Transaction], Awaitable[T]]) -> T:
        for attempt in range(1, _TRANSIENT_RETRIES + 1):
            try:
                async with self._backend.transaction() as conn:
                    tx = Transaction(conn, keep_videos=self._keep_videos)
                    result = await job(tx)
                    if tx.marks.wrote_events or tx.marks.made_due:
                        await conn.notify(self.instance)
            except Exception as exc:
                if attempt == _TRANSIENT_RETRIES or not self._backend.is_transient(exc):
                    raise
                log.info("transaction aborted (%s); running it again (attempt %d)", exc, attempt)
                await asyncio.sleep(0.005 * attempt)
                continue
            if tx.marks.wrote_events:
                self._committed_events()
            return result
        raise AssertionError("unreachable")

    async def _write_all(self) -> None:
        while self._jobs:
            batch = self._jobs[:_MAX_JOBS_PER_COMMIT]
            del self._jobs[:_MAX_JOBS_PER_COMMIT]
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                wrote_events = False
                async with self._backend.transaction() as conn:
                    tx = Transaction(conn, keep_videos=self._keep_videos)
                    for n, (job, future) in enumerate(batch):
                        await conn.execute(f"SAVEPOINT job{n}")
                        tx.next_job()
                        try:
                            result = await job(tx)
                        except Exception as exc:
                            await conn.execute(f"ROLLBACK TO SAVEPOINT job{n}")
                            tx.rolled_back()
                            results.append((future, None, exc))
                        else:
                            results.append((future, result, None))
                            wrote_events = wrote_events or tx.marks.wrote_events
                        await conn.execute(f"RELEASE SAVEPOINT job{n}")
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            if wrote_events:
                self._committed_events()
            for future, result, error in results:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)
