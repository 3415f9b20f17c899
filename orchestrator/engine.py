"""The engine: claims due work from the store, performs it against providers, records outcomes.

Claiming is a write (a submit's intent is recorded before its request is sent; a poll is
leased), performing is concurrent and bounded per provider, and recording is batched: one
writer turns every outcome that arrived meanwhile into a single transaction. ``run_once`` does
one synchronous pass of all three, for tests; ``run`` pipelines them until ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator import logs
from orchestrator import outcomes as outcome_rules
from orchestrator import pipelines as pipeline_rules
from orchestrator import steps as step_rules
from orchestrator.models import EventDraft, PipelineView, Step, StepError, StepStatus
from orchestrator.pressure import ProviderPressure
from orchestrator.providers import errors as pe
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store, Transaction
from orchestrator.work import (
    CallbackUrlFor,
    Outcome,
    PollFailed,
    PollWork,
    SubmitFailed,
    Submitted,
    SubmitWork,
    Work,
    poll,
    submit,
)

log = logging.getLogger("reelay.engine")

_WRITE_BATCH = 1000
SHUTDOWN_SUBMIT_WAIT_S = 8.0
_POLL_LEASE_MARGIN_S = 5.0


class Engine:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        callback_url_for: CallbackUrlFor | None = None,
        provider_settings: Mapping[str, ProviderSettings] | None = None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._settings = settings
        self._clock = clock
        self._callback_url_for = callback_url_for
        rng = rng or random.Random()
        configs = provider_settings or {name: settings.provider(name) for name in providers}
        self._contexts = {
            name: outcome_rules.Context(
                settings=configs[name],
                capabilities=provider.capabilities,
                max_submit_attempts=settings.submit_retry_max_attempts,
                rng=rng,
                resubmit_ambiguous=settings.ambiguous_policy == "resubmit",
            )
            for name, provider in providers.items()
        }
        self._pressure = {
            name: ProviderPressure(
                name,
                configs[name].max_concurrent_requests,
                configs[name].max_requests_per_s,
            )
            for name in providers
        }
        self._active: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._stopping = False
        self._outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._submits: set[asyncio.Task[None]] = set()
        self._polls: set[asyncio.Task[None]] = set()
        self._unanswered_polls: set[tuple[str, int]] = set()

    def wake(self) -> None:
        """Look for work now (a pipeline was created, a callback arrived, a slot freed)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once submits in flight are answered and recorded."""
        self._stopping = True
        self._wake.set()

    async def recover(self) -> int:
        """After a crash: a step left ``submitting`` may have reached the provider. Hold it."""
        now = self._clock()
        error = StepError(
            "SUBMIT_INTERRUPTED",
            "reelay stopped while this submit was in flight; the provider may have created "
            "a task for it, so it is held instead of being sent again",
        )

        async def job(tx: Transaction) -> int:
            views = await tx.load(await tx.stuck_submitting())
            changes = [
                (
                    view,
                    PipelineView(
                        view.pipeline,
                        tuple(
                            self._interrupted(s, now, error)
                            if s.status is StepStatus.SUBMITTING
                            else s
                            for s in view.steps
                        ),
                    ),
                )
                for view in views.values()
            ]
            await self._save(tx, changes, now)
            return len(changes)

        return await self._store.run(job)

    def _interrupted(self, step: Step, now: float, error: StepError) -> Step:
        if self._settings.ambiguous_policy == "resubmit":
            return step_rules.submit_later(step, now, now, error)
        return step_rules.ambiguous(step, now, error)

    async def run_once(self) -> int:
        """Claim everything due, perform it, record the outcomes. Returns how much was done."""
        work = await self._claim()
        outcomes = await asyncio.gather(*(self._perform(w) for w in work))
        if outcomes:
            await self._record(outcomes)
        return len(work)

    async def run(self) -> None:
        await self.recover()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._write_loop())
            try:
                full_pass, busy = True, False
                while not self._stopping:
                    self._wake.clear()
                    # A claim is a write transaction. While claims keep finding work, claim
                    # again at once; after an empty one, a read says whether anything is due.
                    # Each tick still makes a full pass (it also adopts ambiguous submits a
                    # callback has identified).
                    due, now = None, self._clock()
                    if not busy:
                        due = await self._store.next_due()
                        now = self._clock()
                    if busy or full_pass or (due is not None and due <= now):
                        work = await self._claim()
                        busy = bool(work)
                        for item in work:
                            self._start(tg, item)
                        if work:
                            await asyncio.sleep(0)
                            continue
                        due = await self._store.next_due()
                        now = self._clock()
                    full_pass = not await self._sleep(due, now)
            finally:
                # Polls are read-only: drop them and hand their leases back. Submits are not:
                # each is answered and recorded before we stop.
                for task in self._polls:
                    task.cancel()
                if self._submits:
                    # Bounded so that SIGTERM exits within ~10 s; a submit cut off here is
                    # found 'submitting' at the next start and handled by the ambiguity policy.
                    _, late = await asyncio.wait(self._submits, timeout=SHUTDOWN_SUBMIT_WAIT_S)
                    for task in late:
                        task.cancel()
                if self._polls:
                    await asyncio.wait(self._polls)
                self._outcomes.put_nowait(None)
                await self._release_polls()

    def _start(self, tg: asyncio.TaskGroup, item: Work) -> None:
        tasks = self._submits if isinstance(item, SubmitWork) else self._polls
        task = tg.create_task(self._perform_and_queue(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _perform_and_queue(self, item: Work) -> None:
        if isinstance(item, PollWork):
            self._unanswered_polls.add(item.step.key)
        outcome = await self._perform(item)
        self._unanswered_polls.discard(item.step.key)
        self._outcomes.put_nowait(outcome)

    async def _release_polls(self) -> None:
        keys, now = set(self._unanswered_polls), self._clock()
        self._unanswered_polls.clear()
        if keys:

            async def job(tx: Transaction) -> None:
                await tx.release_polls(keys, now)

            await self._store.run(job)

    async def _sleep(self, due: float | None, now: float) -> bool:
        """Until woken, the next due time or the tick; True when woken."""
        timeout = self._settings.engine_tick_s
        if due is not None and due > now:
            timeout = min(timeout, due - now)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _claim(self) -> list[Work]:
        if self._stopping:
            return []
        now = self._clock()

        async def job(tx: Transaction) -> list[Work]:
            await self._adopt(tx, now)
            in_flight: dict[str, int] | None = None  # counted only when a submit is due
            submit_keys: list[tuple[str, int]] = []
            poll_keys: list[tuple[str, int]] = []
            for name in self._providers:
                ctx = self._contexts[name]
                pressure = self._pressure[name]
                free = pressure.request_slots(now) - self._active[name]
                allowed = pressure.submits_allowed(now) if free > 0 else 0
                wanted = free if allowed is None else min(free, allowed)
                keys = await tx.due_submits(name, now, wanted) if wanted > 0 else []
                if keys:
                    if in_flight is None:
                        in_flight = await tx.in_flight_by_provider()
                    tasks_free = ctx.settings.max_in_flight - in_flight.get(name, 0)
                    keys = keys[: max(tasks_free, 0)]
                    submit_keys += keys
                    free -= len(keys)
                if free > 0:
                    lease = now + ctx.settings.timeout_s + _POLL_LEASE_MARGIN_S
                    poll_keys += await tx.due_polls(name, now, free, lease)
            if not submit_keys and not poll_keys:
                return []
            views = await tx.load({p for p, _ in submit_keys} | {p for p, _ in poll_keys})
            changes: dict[str, tuple[PipelineView, PipelineView]] = {}
            work: list[Work] = []
            for pid, idx in submit_keys:
                before, after = changes.get(pid, (views[pid], views[pid]))
                claimed = step_rules.claim_submit(after.steps[idx], now)
                after = _with_step(after, claimed)
                changes[pid] = (before, after)
                parent = after.steps[claimed.parent] if claimed.parent is not None else None
                work.append(SubmitWork(claimed, parent))
            for pid, idx in poll_keys:
                step = views[pid].steps[idx]
                trusted = None
                if not self._settings.callback_confirm and step.callback_mode:
                    trusted = await tx.latest_terminal_callback(step)
                work.append(PollWork(step, trusted))
            await self._save(tx, list(changes.values()), now)
            # Counted before the commit so that no other claim can overbook these slots.
            for item in work:
                self._active[_provider(item)] += 1
            counted.extend(work)
            return work

        counted: list[Work] = []
        try:
            return await self._store.run(job)
        except BaseException:
            for item in counted:
                self._active[_provider(item)] -= 1
            raise

    def health(self) -> dict[str, dict[str, object]]:
        """Per provider: request window, cooldown, whether submissions are paused."""
        return {name: p.health() for name, p in self._pressure.items()}

    def _feel(self, pressure: ProviderPressure, outcome: Outcome) -> None:
        error = outcome.error if isinstance(outcome, SubmitFailed | PollFailed) else None
        if isinstance(error, pe.RateLimited):
            pressure.rate_limited(self._clock(), error.retry_after)
        elif isinstance(error, pe.InsufficientBalance):
            pressure.out_of_balance(self._clock())
        elif error is None:
            pressure.succeeded(submit=isinstance(outcome, Submitted))

    async def _adopt(self, tx: Transaction, now: float) -> None:
        """Ambiguous submits that a callback identified continue as submitted tasks."""
        found = await tx.adoptable()
        if not found:
            return
        views = await tx.load({p for p, _, _ in found})
        changes: dict[str, tuple[PipelineView, PipelineView]] = {}
        for pid, idx, task_id in found:
            before, after = changes.get(pid, (views[pid], views[pid]))
            changes[pid] = (
                before,
                _with_step(after, step_rules.adopt(after.steps[idx], task_id, now)),
            )
        await self._save(tx, list(changes.values()), now)

    async def _perform(self, item: Work) -> Outcome:
        name = _provider(item)
        provider = self._providers[name]
        pressure = self._pressure[name]
        try:
            await pressure.take_token(self._clock)
            if isinstance(item, PollWork):
                outcome = await poll(item, provider)
            else:
                url = None
                if self._callback_url_for is not None and provider.capabilities.callbacks:
                    url = self._callback_url_for(item.step)
                outcome = await submit(item, provider, url)
            self._feel(pressure, outcome)
            return outcome
        finally:
            full = self._active[name] >= self._contexts[name].settings.max_concurrent_requests
            self._active[name] -= 1
            if full:  # a claim may have left due work behind for lack of this slot
                self._wake.set()

    async def _write_loop(self) -> None:
        done = False
        while not done:
            first = await self._outcomes.get()
            batch: list[Outcome] = []
            if first is None:
                done = True
            else:
                batch.append(first)
            while not self._outcomes.empty() and len(batch) < _WRITE_BATCH:
                item = self._outcomes.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                await self._record(batch)
                self._wake.set()

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        now = self._clock()

        async def job(tx: Transaction) -> None:
            views = await tx.load({o.key[0] for o in outcomes})
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
                step = outcome_rules.apply(before, outcome, now, ctx)
                working[pid] = _with_step(view, step)
                if overdue := outcome_rules.overdue(before, step, now, ctx):
                    flags.append(overdue)
            await _poll_now_if_called_back(tx, working, outcomes, now)
            changes = [(views[pid], after) for pid, after in working.items()]
            await self._save(tx, changes, now, flags)

        await self._store.run(job)

    async def _save(
        self,
        tx: Transaction,
        changes: Sequence[tuple[PipelineView, PipelineView]],
        now: float,
        extra: Sequence[EventDraft] = (),
    ) -> None:
        """Settle each changed pipeline and save it with the events that describe the change."""
        saved: list[tuple[PipelineView | None, PipelineView]] = []
        events: list[EventDraft] = []
        for before, after in changes:
            if after is before:
                continue
            settled = pipeline_rules.settle(after, now)
            saved.append((before, settled))
            events += pipeline_rules.events_between(before, settled)
            events += [e for e in extra if e.pipeline_id == after.pipeline.id]
        if saved:
            await tx.save(saved, events, now)


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
        called = await tx.tasks_with_callbacks(provider, [s.provider_task_id or "" for s in steps])
        for step in steps:
            if step.provider_task_id in called:
                view = working[step.pipeline_id]
                working[step.pipeline_id] = _with_step(view, replace(step, next_at=now))


def _with_step(view: PipelineView, step: Step) -> PipelineView:
    if view.steps[step.index] is step:
        return view
    steps = list(view.steps)
    steps[step.index] = step
    return replace(view, steps=tuple(steps))


def _provider(item: Work) -> str:
    return item.step.provider
