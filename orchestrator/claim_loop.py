"""The loop background workers share: claim due work in batches, run each item as a task
(bounded), sleep until the next due time, a wake-up or the tick.

Nothing a claim or an item raises ends the loop (nor the process): while the database is
away, claims are tried again with backoff (one WARNING when that starts, one INFO when it
ends); an item that raises is logged and its lease runs out, so it is claimed again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from orchestrator.backoff import Outage

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
        name: str = "work",
        logger: logging.Logger | None = None,
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
        self._log = logger or logging.getLogger("reelay")
        self._name = name
        self._outage = Outage(f"claiming {name}", self._log)

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
                try:
                    claimed, due, now = await self._claim_due(free, busy=busy, full_pass=full_pass)
                except Exception as exc:
                    # The database is away: nothing was claimed. Wake-ups do not shorten the
                    # wait (they would turn backoff into a busy loop); ``stop`` does.
                    await self._rest(self._outage.failed(exc, self._outage.failures + 1))
                    busy, full_pass = False, True
                    continue
                self._outage.recovered()
                busy = bool(claimed)
                for item in claimed:
                    self._active += 1
                    task = tg.create_task(self._perform_and_release(item))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if claimed:
                    await asyncio.sleep(0)
                    continue
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

    async def _rest(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._stopping:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)

    async def _claim_due(
        self, free: int, *, busy: bool, full_pass: bool
    ) -> tuple[Sequence[T], float | None, float]:
        """What was claimed (maybe nothing), and then when the next item is due."""
        # A claim is a write transaction. While claims keep finding work, claim again at
        # once; after an empty one, ask the cheap read whether anything is due before the
        # next. Each tick still claims regardless.
        due, now = None, self._clock()
        if not busy:
            due = await self._next_due()
            now = self._clock()
        if busy or full_pass or (due is not None and due <= now):
            claimed = await self._claim(free)
            if claimed:
                return claimed, None, now
            due = await self._next_due()
            now = self._clock()
        return (), due, now

    async def _perform_and_release(self, item: T) -> None:
        try:
            await self._perform(item)
        except Exception:
            # A bug (store errors are retried inside ``perform``): the item's lease runs out
            # and it is claimed again; the loop and its other items go on.
            self._log.exception("%s: an item failed unexpectedly", self._name)
        finally:
            self._active -= 1
            self._wake.set()
