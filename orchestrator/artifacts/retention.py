"""Retention: delete kept videos a while after every pipeline using them has finished.

An artifact still referenced by a pending or running pipeline is never deleted, however old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from orchestrator.artifacts.storage import ArtifactStorage
from orchestrator.common.backoff import Outage
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.artifacts")

_BATCH = 200


class Pruner:
    def __init__(
        self,
        store: Store,
        storage: ArtifactStorage,
        retention_s: float,
        *,
        clock: Callable[[], float] = time.time,
        every_s: float = 3600.0,
    ) -> None:
        self._store = store
        self._storage = storage
        self._retention_s = retention_s
        self._clock = clock
        self._every_s = every_s
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run_once(self) -> int:
        """Delete what is due now; returns how many artifacts were deleted."""
        deleted = 0
        while True:
            cutoff = self._clock() - self._retention_s

            async def job(tx: Transaction, cutoff: float = cutoff) -> list[tuple[str, str]]:
                return await tx.artifacts.prunable_artifacts(cutoff, cutoff, _BATCH)

            due = await self._store.run(job)
            for sha256, key in due:
                # The row goes first: a crash in between can orphan an object (space), never
                # leave a row pointing at nothing (a broken video link).

                async def forget(tx: Transaction, sha256: str = sha256) -> None:
                    await tx.artifacts.forget_artifact(sha256, self._clock())

                await self._store.run(forget)
                await self._storage.delete(key)
                deleted += 1
            if len(due) < _BATCH:
                return deleted

    async def run(self) -> None:
        """A pass every ``every_s``; a failed pass (the database or the storage away) is
        tried again with backoff instead of an hour later."""
        outage = Outage("deleting expired videos", log, max_s=min(60.0, self._every_s))
        while not self._stop.is_set():
            wait = self._every_s
            try:
                count = await self.run_once()
            except Exception as exc:
                wait = outage.failed(exc, outage.failures + 1)
            else:
                outage.recovered()
                if count:
                    log.info("retention: deleted %d kept videos", count)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
