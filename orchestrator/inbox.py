"""The receiver's inbox, on the store: callbacks recorded in batches, each step hinted.

Callbacks arriving together are written by one store job (one query to check their steps, two
batched writes), so the cost per callback stays small under a burst. Recording a callback also
moves its step's next poll to now: the engine then confirms the state through the provider's
authenticated status API before acting on it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

from orchestrator.store import Store, Transaction
from receiver.inbox import Callback, Verdict


class CallbackInbox:
    def __init__(
        self,
        store: Store,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._wake = wake
        self._clock = clock
        self._pending: list[tuple[Callback, asyncio.Future[Verdict]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, callback: Callback) -> Verdict:
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._pending.append((callback, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        if self._flusher is not None:
            await self._flusher

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            now = self._clock()

            job = functools.partial(_record_batch, callbacks=[c for c, _ in batch], now=now)
            try:
                verdicts = await self._store.run(job)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), verdict in zip(batch, verdicts, strict=True):
                if not future.done():
                    future.set_result(verdict)
            self._wake()


async def _record_batch(tx: Transaction, callbacks: list[Callback], now: float) -> list[Verdict]:
    owners = await tx.step_tasks({(c.target.pipeline_id, c.target.step) for c in callbacks})
    early: dict[str, set[str]] = {}
    for cb in callbacks:
        if owners.get((cb.target.pipeline_id, cb.target.step)) is None:
            early.setdefault(cb.target.provider, set()).add(cb.status.task_id)
    # An "early" callback naming a task some other step already owns is no early callback.
    taken = {
        (provider, task): owner
        for provider, tasks in early.items()
        for task, owner in (await tx.owners_of_tasks(provider, tasks)).items()
    }
    verdicts: list[Verdict] = []
    rows = []
    hints = set()
    for cb in callbacks:
        key = (cb.target.pipeline_id, cb.target.step)
        owned = owners.get(key)
        other = taken.get((cb.target.provider, cb.status.task_id))
        if (owned is not None and owned != cb.status.task_id) or (other and other != key):
            verdicts.append(Verdict.MISMATCH)
            continue
        verdicts.append(Verdict.RECORDED)
        if key not in owners:
            continue  # a step that no longer exists: acknowledge, nothing to do
        rows.append(
            (
                cb.target.provider,
                cb.status.task_id,
                str(cb.status.state),
                cb.target.pipeline_id,
                cb.target.step,
                cb.body.decode("utf-8", errors="replace"),
                now,
            )
        )
        if owned is not None:
            hints.add((cb.target.pipeline_id, cb.target.step, owned))
    await tx.insert_callbacks(rows)
    await tx.hint_steps(hints, now)
    return verdicts
