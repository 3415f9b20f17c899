"""The one loop every background worker runs (the engine, the webhook deliverer, the
downloader): claim due work in batches, run each item as a task, sleep until the next due
time, a wake-up or the tick.

Nothing a claim or an item raises ends the loop (nor the process): while the database is
away, claims are tried again with backoff (one WARNING when that starts, one INFO when it
ends); an item that raises is logged and its lease runs out, so it is claimed again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

from orchestrator.common.backoff import Outage

T = TypeVar("T")

Drain = Callable[[Mapping[asyncio.Task[None], T]], Awaitable[None]]
"""What ``stop`` does with the items still in flight (task -> item) before the rest are
cancelled."""


class ClaimLoop(Generic[T]):
    def __init__(
        self,
        *,
        claim: Callable[[int], Awaitable[Sequence[T]]],
        perform: Callable[[T], Awaitable[None]],
        next_due: Callable[[], Awaitable[float | None]],
        clock: Callable[[], float],
        concurrency: int | None,
        tick_s: float,
        min_batch: int = 1,
        wake_on_done: bool = True,
        drain: Drain[T] | None = None,
        name: str = "work",
        logger: logging.Logger | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        """``claim(free)`` is asked for at most ``free`` items; with ``concurrency`` None the
        claim bounds itself (and is asked for ``sys.maxsize``). While items are in flight,
        claim only once ``min_batch`` slots are free: each claim is a transaction, and one
        per finished item would cost more than the work. ``wake_on_done``: look for work
        each time an item finishes (else ``perform`` calls ``wake`` when it frees what a
        claim waits for). ``sleep`` waits out a backoff; by default ``stop`` cuts it short.
        """
        self._claim = claim
        self._perform = perform
        self._next_due = next_due
        self._clock = clock
        self._concurrency = concurrency
        self._tick_s = tick_s
        self._min_batch = max(1, min_batch)
        self._wake_on_done = wake_on_done
        self._drain = drain
        self._active = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._log = logger or logging.getLogger("reelay")
        self._name = name
        self._outage = Outage(f"claiming {name}", self._log)
        self._sleep = sleep or self._rest

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def retry_until_stopped(self, call: Callable[[], Awaitable[None]]) -> bool:
        """``await call()`` until it works, backing off as a failed claim does (the same
        outage, the same log lines). False when it failed and ``stop`` came first."""
        while True:
            try:
                await call()
            except Exception as exc:
                if self._stopping:
                    return False
                await self._sleep(self._outage.failed(exc, self._outage.failures + 1))
                continue
            self._outage.recovered()
            return True

    async def run(self) -> None:
        """Until ``stop``; items still in flight then go to ``drain``, and what it leaves
        is cancelled (their leases run out and the work is claimed again later)."""
        in_flight: dict[asyncio.Task[None], T] = {}
        full_pass = True
        busy = False
        looked_again = False
        async with asyncio.TaskGroup() as tg:
            try:
                while not self._stopping:
                    self._wake.clear()
                    free = self._free()
                    if free <= 0 or not (self._active == 0 or free >= self._min_batch):
                        await self._wake.wait()
                        continue
                    try:
                        claimed, due, now = await self._claim_due(
                            free, busy=busy, full_pass=full_pass
                        )
                    except Exception as exc:
                        # The database is away: nothing was claimed. Wake-ups do not shorten
                        # the wait (they would turn backoff into a busy loop); ``stop`` does.
                        await self._sleep(self._outage.failed(exc, self._outage.failures + 1))
                        busy, full_pass = False, True
                        continue
                    self._outage.recovered()
                    busy = bool(claimed)
                    for item in claimed:
                        self._active += 1
                        task = tg.create_task(self._perform_and_release(item))
                        in_flight[task] = item
                        task.add_done_callback(lambda done: in_flight.pop(done, None))
                    if claimed:
                        looked_again = False
                        await asyncio.sleep(0)
                        continue
                    if due is not None and due <= now and not looked_again:
                        # Something fell due while the claim ran: look once more at once,
                        # rather than a whole tick later. Twice empty (a provider full, a
                        # step another replica holds) waits as usual.
                        looked_again = True
                        continue
                    looked_again = False
                    timeout = self._tick_s
                    if due is not None and due > now:
                        timeout = min(timeout, due - now)
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout)
                        full_pass = False
                    except TimeoutError:
                        full_pass = True
            finally:
                if self._drain is not None and in_flight:
                    await self._drain(dict(in_flight))
                for task in in_flight:
                    task.cancel()

    def _free(self) -> int:
        if self._concurrency is None:
            return sys.maxsize
        return self._concurrency - self._active

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
            if self._wake_on_done:
                self._wake.set()
