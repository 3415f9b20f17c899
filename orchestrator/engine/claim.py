"""Claiming due work, within what each provider admits now.

A claim is a write: a submit's intent is recorded before its request is sent, naming this
replica (``submitting``); a due poll is leased until its request must have ended. A provider
admits as many requests as its back-pressure window has free slots, its balance pause and its
request rate allow, and no more submits than ``max_in_flight`` minus its tasks in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import Billing, EventDraft, PipelineView, Step, StepStatus
from orchestrator.engine.budget import Budgets
from orchestrator.engine.changes import Changes
from orchestrator.engine.outcomes import Context
from orchestrator.engine.perform import PollWork, SubmitWork, Work
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.settings import Settings
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.engine")

POLL_LEASE_MARGIN_S = 5.0
"""A poll's lease outlasts its request's timeout by this much."""

Key = tuple[str, int]


@dataclass
class _Due:
    """What one claim found due and admitted."""

    submits: list[Key] = field(default_factory=list)
    leases: dict[Key, float] = field(default_factory=dict)
    """Due polls, each to its lease's end."""


class Claimer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        contexts: Mapping[str, Context],
        pressure: Mapping[str, ProviderPressure],
        replica: str,
        *,
        clock: Callable[[], float],
        stopped: asyncio.Event,
        budgets: Budgets | None = None,
    ) -> None:
        self._store = store
        self._budgets = budgets or Budgets(settings)
        self._settings = settings
        self._contexts = contexts
        self._pressure = pressure
        self._replica = replica
        self._clock = clock
        self._stopped = stopped
        self._active: Counter[str] = Counter()
        """Requests claimed per provider and not yet answered."""
        self._unrecorded: set[Key] = set()
        """Submits claimed by this process whose outcome is not yet recorded."""
        self._check_claims = False
        self._token_due: float | None = None

    async def claim(self) -> list[Work]:
        """Claim everything due that the providers admit now (nothing once stopped)."""
        if self._stopped.is_set():
            return []
        now = self._clock()
        self._token_due = None
        counted: list[Work] = []

        def uncount(items: list[Work]) -> None:
            for item in items:
                self._active[item.step.provider] -= 1
                self._unrecorded.discard(item.step.key)
            items.clear()

        async def job(tx: Transaction) -> list[Work]:
            uncount(counted)  # a run of this job the database aborted (deadlock victim)
            # Lock order: adopted pipelines (waiting), then providers (waiting, by name), then
            # due steps and their pipelines (skipping what others hold), events last.
            changes = await _adopt(tx, now)
            due = await self._admit(tx, now)
            if not due.submits and not due.leases:
                await changes.save(tx, now)
                return []
            views = await tx.pipelines.load(
                {p for p, _ in due.submits} | {p for p, _ in due.leases}, skip_locked=True
            )
            work: list[Work] = []
            waiting: list[EventDraft] = []
            if due.submits:
                submits, waiting = await self._claim_submits(tx, views, due.submits, changes, now)
                work += submits
            work += await self._lease_polls(tx, views, due.leases, now)
            await changes.save(tx, now, waiting)
            # Counted before the commit so that no other claim can overbook these slots.
            for item in work:
                self._active[item.step.provider] += 1
                if isinstance(item, SubmitWork):
                    self._unrecorded.add(item.step.key)
            counted.extend(work)
            return work

        try:
            return await self._store.run(job)
        except BaseException:
            uncount(counted)
            raise

    async def claim_again(self, _free: int) -> list[Work]:
        """``claim`` for the run loop: after a claim that failed (whose commit may have
        happened all the same), first release what it claimed but never sent."""
        try:
            if self._check_claims:
                await self._release_unsent()
            return await self.claim()
        except Exception:
            self._check_claims = True
            raise

    async def next_due(self) -> float | None:
        """When the next step is due, or a submit held back for the request rate may go."""
        due = await self._store.next_due()
        if self._token_due is not None:
            due = self._token_due if due is None else min(due, self._token_due)
        return due

    def answered(self, item: Work) -> bool:
        """Free the item's request slot. True when its provider had none free: a claim may
        have left due work behind for lack of it."""
        name = item.step.provider
        full = self._active[name] >= self._contexts[name].settings.max_concurrent_requests
        self._active[name] -= 1
        return full

    def recorded(self, key: Key) -> None:
        """A submit's outcome is in the store."""
        self._unrecorded.discard(key)

    async def release_polls(self, keys: Collection[Key]) -> None:
        """Hand back the leases of polls dropped unanswered at shutdown (else they run out)."""
        if not keys:
            return
        now = self._clock()

        async def job(tx: Transaction) -> None:
            await tx.claims.release_polls(set(keys), now)

        try:
            await self._store.run(job)
        except Exception as exc:  # their leases run out instead
            log.warning("could not hand back %d poll lease(s): %s", len(keys), exc)

    async def _admit(self, tx: Transaction, now: float) -> _Due:
        """What is due and admitted, provider by provider (each locked while counted)."""
        due = _Due()
        for name in sorted(self._contexts):
            settings = self._contexts[name].settings
            pressure = self._pressure[name]
            free = pressure.request_slots(now) - self._active[name]
            allowed = pressure.submits_allowed(now) if free > 0 else 0
            wanted = free if allowed is None else min(free, allowed)
            keys: list[Key] = []
            if wanted > 0:
                await tx.claims.lock_provider(name)
                keys = await tx.claims.due_submits(name, now, wanted)
            if keys:
                in_flight = await tx.claims.in_flight_of(name, settings.max_in_flight)
                keys = keys[: max(settings.max_in_flight - in_flight, 0)]
                # Claim only what is sent at once: a claimed submit never waits for the
                # request rate (it would sit as 'submitting' meanwhile, and be held as
                # ambiguous if the process died).
                sendable = pressure.take_tokens(now, len(keys))
                if sendable < len(keys) and pressure.rate_per_s:
                    self._token_due = now + 1 / pressure.rate_per_s
                keys = keys[:sendable]
                due.submits += keys
                free -= len(keys)
            if free > 0:
                lease = now + settings.timeout_s + POLL_LEASE_MARGIN_S
                due.leases |= dict.fromkeys(await tx.claims.due_polls(name, now, free), lease)
        return due

    async def _claim_submits(
        self,
        tx: Transaction,
        views: Mapping[str, PipelineView],
        keys: list[Key],
        changes: Changes,
        now: float,
    ) -> tuple[list[Work], list[EventDraft]]:
        """Claim the due submits the budgets admit (their reservations are written with the
        claim); the others wait, and the events telling so are returned."""
        candidates: list[tuple[PipelineView, Step]] = []
        for pid, idx in keys:
            if pid not in views:
                continue  # another replica is writing it: due again after its commit
            step = changes.current(views[pid]).steps[idx]
            if _submit_due(step, now):
                candidates.append((views[pid], step))
        admission = await self._budgets.admit(tx, candidates, now)
        for step in admission.held:
            changes.put(views[step.pipeline_id], step)
        work: list[Work] = []
        for pid, idx in admission.admitted:
            step = changes.current(views[pid]).steps[idx]
            claimed = step_rules.claim_submit(step, now, self._replica)
            after = changes.put(views[pid], claimed)
            parent = after.steps[claimed.parent] if claimed.parent is not None else None
            work.append(SubmitWork(claimed, parent))
        return work, admission.events

    async def _lease_polls(
        self,
        tx: Transaction,
        views: Mapping[str, PipelineView],
        leases: Mapping[Key, float],
        now: float,
    ) -> list[Work]:
        polls = [k for k in leases if k[0] in views and _poll_due(views[k[0]], k, now)]
        await tx.claims.lease_polls({k: leases[k] for k in polls})
        work: list[Work] = []
        for pid, idx in polls:
            step = views[pid].steps[idx]
            trusted = None
            if not self._settings.callback_confirm and step.callback_mode:
                trusted = await tx.callbacks.latest_terminal_callback(step)
            work.append(PollWork(step, trusted))
        return work

    async def _release_unsent(self) -> None:
        """After a failed claim whose commit may have happened after all: submits this
        replica claimed but never started are not in flight anywhere. They go back to pending
        (nothing was sent), instead of waiting as ``submitting`` for a takeover that would
        hold them as ambiguous."""
        now = self._clock()

        async def job(tx: Transaction) -> int:
            mine = await tx.claims.claimed_submits(self._replica)
            unsent = [k for k in mine if k not in self._unrecorded]
            if not unsent:
                return 0
            views = await tx.pipelines.load({p for p, _ in unsent})
            changes = Changes()
            for pid, idx in unsent:
                if pid not in views or (pid, idx) in self._unrecorded:
                    continue
                step = changes.current(views[pid]).steps[idx]
                if step.status is not StepStatus.SUBMITTING or step.claimed_by != self._replica:
                    continue
                back = step_rules.move(
                    step,
                    StepStatus.PENDING,
                    now,
                    next_at=now,
                    attempts=max(step.attempts - 1, 0),
                    claimed_by=None,
                    billing=Billing.RELEASED,
                )
                changes.put(views[pid], back)
            await changes.save(tx, now)
            return len(changes)

        if await self._store.run(job):
            log.info("released submits whose claim was committed but never sent")
        self._check_claims = False


async def _adopt(tx: Transaction, now: float) -> Changes:
    """Ambiguous submits that a callback identified continue as submitted tasks."""
    changes = Changes()
    found = await tx.callbacks.adoptable()
    if not found:
        return changes
    views = await tx.pipelines.load({p for p, _, _ in found})
    for pid, idx, task_id in found:
        if pid in views:
            step = changes.current(views[pid]).steps[idx]
            changes.put(views[pid], step_rules.adopt(step, task_id, now))
    return changes


def _submit_due(step: Step, now: float) -> bool:
    return step.status is StepStatus.PENDING and step.next_at is not None and step.next_at <= now


def _poll_due(view: PipelineView, key: Key, now: float) -> bool:
    step = view.steps[key[1]]
    return step.status.in_flight and step.next_at is not None and step.next_at <= now
