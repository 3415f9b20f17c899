"""The receiver's inbox, on the store: callbacks recorded in batches, each step hinted.

Callbacks arriving together are written by one store job (one query to check their steps, two
batched writes), so the cost per callback stays small under a burst. Recording a callback also
moves its step's next poll to now: the engine then confirms the state through the provider's
authenticated status API before acting on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from orchestrator.batching import Batcher
from orchestrator.domain.callbacks import Callback, Verdict
from orchestrator.store import Store, Transaction


class CallbackInbox:
    def __init__(
        self,
        store: Store,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._batcher: Batcher[Callback, Verdict] = Batcher(store, self._write, after=wake)

    async def record(self, callback: Callback) -> Verdict:
        return await self._batcher.submit(callback)

    async def close(self) -> None:
        await self._batcher.close()

    async def _write(self, tx: Transaction, callbacks: Sequence[Callback]) -> list[Verdict]:
        return await _record_batch(tx, callbacks, self._clock())


async def _record_batch(
    tx: Transaction, callbacks: Sequence[Callback], now: float
) -> list[Verdict]:
    owners = await tx.callbacks.step_tasks(
        {(c.target.pipeline_id, c.target.step) for c in callbacks}
    )
    early: dict[str, set[str]] = {}
    for cb in callbacks:
        if owners.get((cb.target.pipeline_id, cb.target.step)) is None:
            early.setdefault(cb.target.provider, set()).add(cb.status.task_id)
    # An "early" callback naming a task some other step already owns is no early callback.
    taken = {
        (provider, task): owner
        for provider, tasks in early.items()
        for task, owner in (await tx.callbacks.owners_of_tasks(provider, tasks)).items()
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
    await tx.callbacks.insert_callbacks(rows)
    await tx.callbacks.hint_steps(hints, now)
    return verdicts
