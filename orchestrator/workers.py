"""The loop background workers share: claim due work in batches, run each item as a task
(bounded), sleep until the next due time, a wake-up or the tick."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class ClaimLoop(Generic[T]):
    def __init__(
        self,
        *,
        claim: Callable[[int], Awaitable[Sequence[T]]],
        perform: Callable[[T], Awaitable[None]],
        next_due: Callable[[], Awaitable[float | None]],
        clock: Callable[[], float],
        concurrency: int,
        tick_s: float,
        min_batch: int = 1,
    ) -> None:
        """While items are in flight, claim only once ``min_batch`` slots are free: each claim
        is a transaction, and one per finished item would cost more than the work."""
        self._claim = claim
        self._perform = perform
        self._next_due = next_due
        self._clock = clock
        self._concurrency = concurrency
        self._tick_s = tick_s
        self._min_batch = max(1, min_batch)
        self._active = 0
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Until ``stop``; items still in flight then are cancelled (their leases run out and
        the work is claimed again later)."""
        in_flight: set[asyncio.Task[None]] = set()
        full_pass = True
        busy = False
        async with asyncio.TaskGroup() as tg:
            while not self._stopping:
                self._wake.clear()
                free = self._concurrency - self._active
                if free <= 0 or not (self._active == 0 or free >= self._min_batch):
                    await self._wake.wait()
                    continue
                # A claim is a write transaction. While claims keep finding work, claim
                # again at once; after an empty one, ask the cheap read whether anything is
                # due before the next. Each tick still claims regardless.
                due, now = None, self._clock()
                if not busy:
                    due = await self._next_due()
                    now = self._clock()
                if busy or full_pass or (due is not None and due <= now):
                    claimed = await self._claim(free)
                    busy = bool(claimed)
                    for item in claimed:
                        self._active += 1
                        task = tg.create_task(self._perform_and_release(item))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                    if claimed:
                        await asyncio.sleep(0)
                        continue
                    due = await self._next_due()
                    now = self._clock()
                timeout = self._tick_s
                if due is not None and due > now:
                    timeout = min(timeout, due - now)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                    full_pass = False
                except TimeoutError:
                    full_pass = True
            for task in in_flight:
                task.cancel()

    async def _perform_and_release(self, item: T) -> None:
        try:
            await self._perform(item)
        finally:
            self._active -= 1
            self._wake.set()
