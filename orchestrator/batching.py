"""Micro-batching on top of the store's group commit: many small writes, one store job.

Items that arrive while a batch is being written join the next one; each caller gets its own
result once its batch is committed. Used where one write per request would cost more in
per-job overhead than in SQL (callbacks in, webhook attempts out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from orchestrator.store import Store, Transaction

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        store: Store,
        write: Callable[[Transaction, Sequence[T]], Awaitable[Sequence[R]]],
        *,
        after: Callable[[], None] = lambda: None,
    ) -> None:
        """``write`` returns one result per item, in order; ``after`` runs after each commit."""
        self._store = store
        self._write = write
        self._after = after
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            # Outlives a cancelled caller: the other callers' items ride on it.
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            items = [item for item, _ in batch]

            async def job(tx: Transaction, items: list[T] = items) -> Sequence[R]:
                return await self._write(tx, items)

            try:
                results = await self._store.run(job)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            self._after()
