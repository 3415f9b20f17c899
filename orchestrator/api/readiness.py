"""``/readyz``'s database check: can reelay write, right now?

A read proves little (a full disk or read-only files still serve reads), so the check is a
one-row write transaction, through the store's own writer like every other write. Its result
is kept for ``EVERY_S`` and concurrent probes share one check, so probes cannot load the
database. The answer is a short reason, never a driver's message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from orchestrator.api.failures import LOG_EVERY_S, Throttle
from orchestrator.common.database_faults import unavailable_reason
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.api")

EVERY_S = 1.0
TIMEOUT_S = 2.0


class WriteProbe:
    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EVERY_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._every_s = every_s
        self._timeout_s = timeout_s
        self._checked_at: float | None = None
        self._problem: str | None = None
        self._running: asyncio.Future[str | None] | None = None
        self._throttle = Throttle(LOG_EVERY_S, clock)
        self.writes = 0
        """Probe transactions committed (for tests: probes are shared and cached)."""

    async def problem(self) -> str | None:
        """None when the database takes writes; otherwise why it does not, in a few words."""
        if self._checked_at is not None and self._clock() - self._checked_at < self._every_s:
            return self._problem
        if self._running is None:
            self._running = asyncio.ensure_future(self._check())
        # Shielded: a prober that hangs up does not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _check(self) -> str | None:
        try:
            self._problem = await self._write()
            self._checked_at = self._clock()
            return self._problem
        finally:
            self._running = None

    async def _write(self) -> str | None:
        async def job(tx: Transaction) -> None:
            await tx.replicas.touch_readiness(time.time())

        try:
            await asyncio.wait_for(self._store.run(job), self._timeout_s)
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                reason = f"the database did not take a write within {self._timeout_s:g} s"
            else:
                reason = unavailable_reason(exc) or "the database refused a write"
            if self._throttle.allow() is not None:
                log.warning("not ready: %s (%s: %s)", reason, type(exc).__name__, exc)
            return reason
        self.writes += 1
        return None
