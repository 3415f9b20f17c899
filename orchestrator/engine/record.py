"""Recording outcomes: one writer turns every outcome that arrived meanwhile into a single
transaction, and tries again while the database is away (a submit's answer names the task it
created: it is never dropped while reelay runs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator.common import logs
from orchestrator.common.backoff import Outage
from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import EventDraft, PipelineView, Step, StepStatus
from orchestrator.engine import health as health_rules
from orchestrator.engine import outcomes as outcome_rules
from orchestrator.engine.changes import save, with_step
from orchestrator.engine.claim import Claimer
from orchestrator.engine.perform import Outcome, SubmitFailed, Submitted
from orchestrator.engine.reroute import Rerouter
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.engine")

WRITE_BATCH = 1000
"""The most outcomes one transaction records."""


class Recorder:
    def __init__(
        self,
        store: Store,
        contexts: Mapping[str, outcome_rules.Context],
        claimer: Claimer,
        replica: str,
        *,
        clock: Callable[[], float],
        stopped: asyncio.Event,
        wake: Callable[[], None],
        rerouter: Rerouter | None = None,
    ) -> None:
        self._store = store
        self._rerouter = rerouter
        self._contexts = contexts
        self._claimer = claimer
        self._replica = replica
        self._clock = clock
        self._stopped = stopped
        self._wake = wake
        self._queue: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._recording = Outage("recording outcomes", log)

    def put(self, outcome: Outcome) -> None:
        """Record ``outcome`` with the next batch."""
        self._queue.put_nowait(outcome)

    def close(self) -> None:
        """No more outcomes: ``run`` returns once those queued are recorded (or given up)."""
        self._queue.put_nowait(None)

    async def run(self) -> None:
        done = False
        while not done:
            first = await self._queue.get()
            batch: list[Outcome] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            while not self._queue.empty() and len(batch) < WRITE_BATCH:
                item = self._queue.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                await self._record_surely(batch, giving_up=done)
                self._wake()

    async def _record_surely(self, batch: Sequence[Outcome], *, giving_up: bool) -> None:
        """Record, trying again while the database is away; when stopping, only a few times."""
        attempt = 0
        while True:
            try:
                await self.record(batch)
            except Exception as exc:
                attempt += 1
                if (giving_up or self._stopped.is_set()) and attempt >= 3:
                    log.warning(
                        "could not record %d outcome(s) before stopping (%s); their submits "
                        "will be held as ambiguous",
                        len(batch),
                        exc,
                    )
                    break
                await asyncio.sleep(self._recording.failed(exc, attempt))
                continue
            self._recording.recovered()
            break
        for outcome in batch:
            if isinstance(outcome, Submitted | SubmitFailed):
                self._claimer.recorded(outcome.key)

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Apply each outcome to its step, in one transaction."""
        now = self._clock()
        failed: list[Step] = []

        async def job(tx: Transaction) -> None:
            failed.clear()  # a job may be run again from the start
            views = await tx.pipelines.load({o.key[0] for o in outcomes})
            working = dict(views)
            flags: list[EventDraft] = []
            for outcome in outcomes:
                pid, idx = outcome.key
                view = working.get(pid)
                if view is None:
                    log.warning(
                        "outcome for unknown pipeline %s ignored", pid, extra=logs.context(pid, idx)
                    )
                    continue
                ctx = self._contexts[view.pipeline.provider]
                before = view.steps[idx]
                if not self._answers(before, outcome):
                    log.warning(
                        "an answer for step %s/%s came after another replica took it over; ignored",
                        pid,
                        idx,
                        extra=logs.context(pid, idx),
                    )
                    continue
                try:
                    step = outcome_rules.apply(before, outcome, now, ctx)
                except step_rules.InvalidTransition:
                    log.exception("outcome ignored", extra=logs.context(pid, idx))
                    continue
                working[pid] = with_step(view, step)
                if isinstance(outcome, SubmitFailed) and self._rerouter is not None:
                    moved = self._rerouter.reroute(working[pid], step, outcome.error, now)
                    if moved is not None:
                        working[pid], told = moved
                        flags += told
                        step = working[pid].steps[idx]
                if step.status is StepStatus.FAILED and before.status is not StepStatus.FAILED:
                    failed.append(step)
                if overdue := outcome_rules.overdue(before, step, now, ctx):
                    flags.append(overdue)
            await _poll_now_if_called_back(tx, working, outcomes, now)
            changes = [(views[pid], after) for pid, after in working.items()]
            await save(tx, changes, now, flags)

        await self._store.run(job)
        for step in failed:
            health_rules.step_failed(step)

    def _answers(self, step: Step, outcome: Outcome) -> bool:
        """Whether ``outcome`` still speaks for ``step``: a submit's answer only while this
        replica's claim stands, or (a task id) for a step held as ambiguous meanwhile."""
        if not isinstance(outcome, Submitted | SubmitFailed):
            return True
        if step.status is StepStatus.SUBMITTING:
            return step.claimed_by == self._replica
        if step.status is StepStatus.AMBIGUOUS:
            return isinstance(outcome, Submitted) and step.provider_task_id is None
        return step.status is StepStatus.CANCELLED


async def _poll_now_if_called_back(
    tx: Transaction,
    working: dict[str, PipelineView],
    outcomes: Sequence[Outcome],
    now: float,
) -> None:
    """A callback that arrived before its submit was answered is acted on now."""
    fresh: dict[str, list[Step]] = {}
    for outcome in outcomes:
        if isinstance(outcome, Submitted) and outcome.callback_mode:
            step = working[outcome.key[0]].steps[outcome.key[1]]
            if step.status is StepStatus.SUBMITTED:
                fresh.setdefault(step.provider, []).append(step)
    for provider, steps in fresh.items():
        called = await tx.callbacks.tasks_with_callbacks(
            provider, [s.provider_task_id or "" for s in steps]
        )
        for step in steps:
            if step.provider_task_id in called:
                view = working[step.pipeline_id]
                working[step.pipeline_id] = with_step(view, replace(step, next_at=now))
