"""Replicas sharing one database: a heartbeat that keeps this replica's submits in flight its
own, taking over the submits of replicas that died, and handing over at shutdown.

A submit in flight (``submitting``) names the replica that sends it. Nobody else may send it
again: the provider may have created a task for it. When that replica stops beating, its
submits are held as ambiguous (or, with ``REELAY_AMBIGUOUS_POLICY=resubmit``, sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence

from orchestrator.common import logs
from orchestrator.common.backoff import Outage
from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import PipelineView, Step, StepError, StepStatus
from orchestrator.engine.changes import Changes
from orchestrator.settings import Settings
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.engine")

FORGET_REPLICAS_S = 86_400.0
"""A replica silent for this long is dropped from the replica table."""


class Replicas:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        replica: str,
        *,
        clock: Callable[[], float],
        stopped: asyncio.Event,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._settings = settings
        self._replica = replica
        self._clock = clock
        self._stopped = stopped
        self._wake = wake
        self._beating = Outage("the replica heartbeat", log)

    async def start(self) -> None:
        """Join: beat, and hold what a previous run left in flight."""
        await self.heartbeat()
        await self.recover(starting=True)

    async def heartbeat(self) -> None:
        """Tell the other replicas this one is alive (its submits in flight are its own)."""
        now = self._clock()

        async def job(tx: Transaction) -> None:
            await tx.replicas.heartbeat(self._replica, now, now - FORGET_REPLICAS_S)

        await self._store.run(job)

    async def recover(self, *, starting: bool = False) -> int:
        """Submits whose replica died may have reached the provider: hold them (or, with the
        resubmit policy, send them again). Returns how many steps were taken over.

        A replica is dead when its heartbeat is older than ``REELAY_REPLICA_TTL_S``. At the
        start on a database that nobody else writes (SQLite), every submit left in flight is
        from a previous run of this process.
        """
        now = self._clock()
        alive_since = now - self._settings.replica_ttl_s
        if starting and not self._store.shared:
            alive_since = math.inf

        async def job(tx: Transaction) -> int:
            orphans = await tx.claims.orphaned_submits(self._replica, alive_since)
            if not orphans:
                return 0
            views = await tx.pipelines.load({p for p, _, _ in orphans})
            changes, held = self._hold(views, orphans, now)
            await changes.save(tx, now)
            if changes:
                log.warning(
                    "took over %d submit(s) in flight from replica(s) %s",
                    len(orphans),
                    ", ".join(sorted({o or "unknown" for _, _, o in orphans})),
                )
            return len(held)

        return await self._store.run(job)

    async def keep_alive(self) -> None:
        """Until stopped: heartbeat, and take over the submits of replicas that stopped
        beating."""
        every = self._settings.replica_ttl_s / 3
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), every)
            if self._stopped.is_set():
                return
            try:
                await self.heartbeat()
                if await self.recover():
                    self._wake()
            except Exception as exc:
                self._beating.failed(exc)  # the next beat, ``every`` from now, tries again
            else:
                self._beating.recovered()

    def interrupted(self, step: Step, now: float) -> Step:
        """A submit whose sender stopped before it was answered."""
        error = StepError(
            "SUBMIT_INTERRUPTED",
            f"reelay (replica {step.claimed_by or 'unknown'}) stopped while this submit was in "
            "flight; the provider may have created a task for it, so it is held instead of "
            "being sent again",
        )
        if self._settings.ambiguous_policy == "resubmit":
            return step_rules.submit_later(step, now, now, error)
        return step_rules.ambiguous(step, now, error)

    async def hold_cut_off(self, keys: Sequence[tuple[str, int]]) -> None:
        """Submits cut off by the shutdown wait: held as ambiguous now (they may have created
        a task), each named in a WARNING with what the operator can do about it."""
        if not keys:
            return
        now = self._clock()

        async def job(tx: Transaction) -> list[Step]:
            views = await tx.pipelines.load({p for p, _ in keys})
            changes, held = self._hold(views, [(p, i, self._replica) for p, i in keys], now)
            await changes.save(tx, now)
            return held

        try:
            held = await self._store.run(job)
        except Exception as exc:
            held = []
            log.warning(
                "could not record %d submit(s) cut off by the shutdown (%s); the next start "
                "(or another replica) holds them",
                len(keys),
                exc,
            )
            for pid, idx in keys:
                _warn_cut_off(pid, idx, resubmit=False)
        for step in held:
            _warn_cut_off(step.pipeline_id, step.index, resubmit=step.status is StepStatus.PENDING)

    async def leave(self) -> None:
        """Stopped with everything recorded: what is still in flight (a submit cut off by the
        shutdown wait) is for the other replicas to take over now, not after the TTL."""

        async def job(tx: Transaction) -> None:
            await tx.replicas.leave(self._replica)

        try:
            await self._store.run(job)
        except Exception as exc:
            log.warning("could not leave the replica set (%s); the others wait for the TTL", exc)

    def _hold(
        self,
        views: dict[str, PipelineView],
        submits: Sequence[tuple[str, int, str | None]],
        now: float,
    ) -> tuple[Changes, list[Step]]:
        """Each (pipeline, step, sender) still in flight from that sender, interrupted; and
        the steps so changed."""
        changes, held = Changes(), []
        for pid, idx, owner in submits:
            if pid not in views:
                continue
            step = changes.current(views[pid]).steps[idx]
            if step.status is not StepStatus.SUBMITTING or step.claimed_by != owner:
                continue  # answered since
            held.append(self.interrupted(step, now))
            changes.put(views[pid], held[-1])
        return changes, held


def _warn_cut_off(pipeline_id: str, index: int, *, resubmit: bool) -> None:
    if resubmit:
        log.warning(
            "submit of step %d of pipeline %s was cut off by the shutdown; "
            "REELAY_AMBIGUOUS_POLICY=resubmit sends it again",
            index,
            pipeline_id,
            extra=logs.context(pipeline_id, index),
        )
        return
    log.warning(
        "submit of step %d of pipeline %s was cut off by the shutdown and is held as "
        "ambiguous: the provider may have created a task for it. A callback naming that task "
        "resumes the step; if the provider has no task for it, `reelay retry %s` "
        "(POST /v1/pipelines/%s/retry) submits it again",
        index,
        pipeline_id,
        pipeline_id,
        pipeline_id,
        extra=logs.context(pipeline_id, index),
    )
