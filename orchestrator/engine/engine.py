"""The engine: claims due work from the store, performs it against providers, records outcomes.

Claiming is a write (a submit's intent is recorded before its request is sent, naming this
replica; a poll is leased), performing is concurrent and bounded per provider, and recording is
batched: one writer turns every outcome that arrived meanwhile into a single transaction.
``run_once`` does one synchronous pass of all three, for tests; ``run`` pipelines them until
``stop``, beside a heartbeat that keeps this replica's submits its own and takes over those of
replicas that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator import logs
from orchestrator import pipelines as pipeline_rules
from orchestrator import steps as step_rules
from orchestrator.backoff import Outage
from orchestrator.engine import health as health_rules
from orchestrator.engine import outcomes as outcome_rules
from orchestrator.engine.perform import (
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
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.models import EventDraft, PipelineView, Step, StepError, StepStatus
from orchestrator.providers import errors as pe
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store, Transaction

log = logging.getLogger("reelay.engine")

_WRITE_BATCH = 1000
SHUTDOWN_SUBMIT_WAIT_S = 8.0
_POLL_LEASE_MARGIN_S = 5.0
_FORGET_REPLICAS_S = 86_400.0


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
        replica: str | None = None,
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
        self.provider_health = health_rules.ProviderHealth(self._pressure, clock=clock)
        """Which providers are degraded; feed it every exchange (``observe``)."""
        self._active: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self.replica = replica or store.instance
        """The name this replica's submits carry while in flight."""
        self._outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._submits: set[asyncio.Task[None]] = set()
        self._submit_tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._polls: set[asyncio.Task[None]] = set()
        self._unanswered_polls: set[tuple[str, int]] = set()
        self._unrecorded_submits: set[tuple[str, int]] = set()
        """Submits claimed by this process whose outcome is not yet recorded."""
        self._check_claims = False
        self._claiming = Outage("claiming work", log)
        self._recording = Outage("recording outcomes", log)
        self._beating = Outage("the replica heartbeat", log)
        self._token_due: float | None = None

    def wake(self) -> None:
        """Look for work now (a pipeline was created, a callback arrived, a slot freed)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once submits in flight are answered and recorded."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def heartbeat(self) -> None:
        """Tell the other replicas this one is alive (its submits in flight are its own)."""
        now = self._clock()

        async def job(tx: Transaction) -> None:
            await tx.heartbeat(self.replica, now, now - _FORGET_REPLICAS_S)

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
            orphans = await tx.orphaned_submits(self.replica, alive_since)
            if not orphans:
                return 0
            views = await tx.load({p for p, _, _ in orphans})
            changes: dict[str, tuple[PipelineView, PipelineView]] = {}
            for pid, idx, owner in orphans:
                if pid not in views:
                    continue
                before, after = changes.get(pid, (views[pid], views[pid]))
                step = after.steps[idx]
                if step.status is not StepStatus.SUBMITTING or step.claimed_by != owner:
                    continue  # answered since
                changes[pid] = (before, _with_step(after, self._interrupted(step, now)))
            await self._save(tx, list(changes.values()), now)
            if changes:
                log.warning(
                    "took over %d submit(s) in flight from replica(s) %s",
                    len(orphans),
                    ", ".join(sorted({o or "unknown" for _, _, o in orphans})),
                )
            return sum(
                1
                for before, after in changes.values()
                for old, new in zip(before.steps, after.steps, strict=True)
                if old is not new
            )

        return await self._store.run(job)

    async def _keep_alive(self) -> None:
        """Heartbeat, and take over the submits of replicas that stopped beating."""
        every = self._settings.replica_ttl_s / 3
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), every)
            if self._stopping:
                return
            try:
                await self.heartbeat()
                if await self.recover():
                    self._wake.set()
            except Exception as exc:
                self._beating.failed(exc)  # the next beat, ``every`` from now, tries again
            else:
                self._beating.recovered()

    def _interrupted(self, step: Step, now: float) -> Step:
        error = StepError(
            "SUBMIT_INTERRUPTED",
            f"reelay (replica {step.claimed_by or 'unknown'}) stopped while this submit was in "
            "flight; the provider may have created a task for it, so it is held instead of "
            "being sent again",
        )
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
        """Until ``stop``. A store error never ends it: claims and records are tried again
        with backoff while the database is away."""

        async def start() -> None:
            await self.heartbeat()
            await self.recover(starting=True)

        while True:
            try:
                await start()
            except Exception as exc:
                if self._stopping:
                    return
                wait = self._claiming.failed(exc, self._claiming.failures + 1)
                await self._sleep(self._clock() + wait, self._clock(), wakeable=False)
                continue
            self._claiming.recovered()
            break
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._write_loop())
            tg.create_task(self._keep_alive())
            try:
                full_pass, busy = True, False
                while not self._stopping:
                    self._wake.clear()
                    # A claim is a write transaction. While claims keep finding work, claim
                    # again at once; after an empty one, a read says whether anything is due.
                    # Each tick still makes a full pass (it also adopts ambiguous submits a
                    # callback has identified).
                    try:
                        if self._check_claims:
                            await self._release_unsent()
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
                                self._claiming.recovered()
                                await asyncio.sleep(0)
                                continue
                            due = await self._store.next_due()
                            now = self._clock()
                        self._claiming.recovered()
                    except Exception as exc:
                        # The database is away (a restart, a failover): nothing was claimed
                        # that we know of. A claim whose commit was lost is released first
                        # once the database answers again.
                        self._check_claims = True
                        wait = self._claiming.failed(exc, self._claiming.failures + 1)
                        busy, due, now = False, self._clock() + wait, self._clock()
                        full_pass = not await self._sleep(due, now, wakeable=False)
                        continue
                    if self._token_due is not None:
                        due = self._token_due if due is None else min(due, self._token_due)
                    full_pass = not await self._sleep(due, now)
            finally:
                # Polls are read-only: drop them and hand their leases back. Submits are not:
                # each is answered and recorded before we stop.
                for task in self._polls:
                    task.cancel()
                cut_off: list[tuple[str, int]] = []
                if self._submits:
                    # Bounded so that SIGTERM exits within ~10 s. A submit cut off here may
                    # or may not have reached the provider: it is held (``_hold_cut_off``).
                    keys = {task: key for key, task in self._submit_tasks.items()}
                    _, late = await asyncio.wait(self._submits, timeout=SHUTDOWN_SUBMIT_WAIT_S)
                    for task in late:
                        task.cancel()
                        cut_off.append(keys[task])
                if self._polls:
                    await asyncio.wait(self._polls)
                self._outcomes.put_nowait(None)
                await self._release_polls()
        await self._hold_cut_off(cut_off)
        await self._leave()

    async def _hold_cut_off(self, keys: Sequence[tuple[str, int]]) -> None:
        """Submits cut off by the shutdown wait: held as ambiguous now (they may have created
        a task), each named in a WARNING with what the operator can do about it."""
        if not keys:
            return
        now = self._clock()

        async def job(tx: Transaction) -> list[Step]:
            views = await tx.load({p for p, _ in keys})
            changes: dict[str, tuple[PipelineView, PipelineView]] = {}
            held: list[Step] = []
            for pid, idx in keys:
                if pid not in views:
                    continue
                before, after = changes.get(pid, (views[pid], views[pid]))
                step = after.steps[idx]
                if step.status is not StepStatus.SUBMITTING or step.claimed_by != self.replica:
                    continue
                changed = self._interrupted(step, now)
                held.append(changed)
                changes[pid] = (before, _with_step(after, changed))
            await self._save(tx, list(changes.values()), now)
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

    async def _release_unsent(self) -> None:
        """After a failed claim whose commit may have happened after all: submits this
        replica claimed but never started are not in flight anywhere. They go back to pending
        (nothing was sent), instead of waiting as ``submitting`` for a takeover that would
        hold them as ambiguous."""
        now = self._clock()

        async def job(tx: Transaction) -> int:
            mine = await tx.claimed_submits(self.replica)
            unsent = [k for k in mine if k not in self._unrecorded_submits]
            if not unsent:
                return 0
            views = await tx.load({p for p, _ in unsent})
            changes: dict[str, tuple[PipelineView, PipelineView]] = {}
            for pid, idx in unsent:
                if pid not in views or (pid, idx) in self._unrecorded_submits:
                    continue
                before, after = changes.get(pid, (views[pid], views[pid]))
                step = after.steps[idx]
                if step.status is not StepStatus.SUBMITTING or step.claimed_by != self.replica:
                    continue
                back = step_rules.move(
                    step,
                    StepStatus.PENDING,
                    now,
                    next_at=now,
                    attempts=max(step.attempts - 1, 0),
                    claimed_by=None,
                )
                changes[pid] = (before, _with_step(after, back))
            await self._save(tx, list(changes.values()), now)
            return len(changes)

        if await self._store.run(job):
            log.info("released submits whose claim was committed but never sent")
        self._check_claims = False

    async def _leave(self) -> None:
        """Stopped with everything recorded: what is still in flight (a submit cut off by the
        shutdown wait) is for the other replicas to take over now, not after the TTL."""

        async def job(tx: Transaction) -> None:
            await tx.leave(self.replica)

        try:
            await self._store.run(job)
        except Exception as exc:
            log.warning("could not leave the replica set (%s); the others wait for the TTL", exc)

    def _start(self, tg: asyncio.TaskGroup, item: Work) -> None:
        tasks = self._submits if isinstance(item, SubmitWork) else self._polls
        task = tg.create_task(self._perform_and_queue(item))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if isinstance(item, SubmitWork):
            self._submit_tasks[item.step.key] = task
            task.add_done_callback(lambda _: self._submit_tasks.pop(item.step.key, None))

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

            try:
                await self._store.run(job)
            except Exception as exc:  # their leases run out instead
                log.warning("could not hand back %d poll lease(s): %s", len(keys), exc)

    async def _sleep(self, due: float | None, now: float, *, wakeable: bool = True) -> bool:
        """Until woken, the next due time or the tick; True when woken. Not ``wakeable``:
        until ``due`` or ``stop`` (backing off from a database outage)."""
        if not wakeable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), max(0.0, (due or now) - now))
            return False
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
        self._token_due = None

        async def job(tx: Transaction) -> list[Work]:
            _uncount(counted)  # a run of this job the database aborted (deadlock victim)
            # Lock order: adopted pipelines (waiting), then providers (waiting, by name), then
            # due steps and their pipelines (skipping what others hold), events last.
            changes = await self._adopt(tx, now)
            submit_keys: list[tuple[str, int]] = []
            leases: dict[tuple[str, int], float] = {}  # due polls, each to its lease's end
            for name in sorted(self._providers):
                ctx = self._contexts[name]
                pressure = self._pressure[name]
                free = pressure.request_slots(now) - self._active[name]
                allowed = pressure.submits_allowed(now) if free > 0 else 0
                wanted = free if allowed is None else min(free, allowed)
                keys: list[tuple[str, int]] = []
                if wanted > 0:
                    await tx.lock_provider(name)
                    keys = await tx.due_submits(name, now, wanted)
                if keys:
                    in_flight = await tx.in_flight_of(name)
                    keys = keys[: max(ctx.settings.max_in_flight - in_flight, 0)]
                    # Claim only what is sent at once: a claimed submit never waits for the
                    # request rate (it would sit as 'submitting' meanwhile, and be held as
                    # ambiguous if the process died).
                    sendable = pressure.take_tokens(now, len(keys))
                    if sendable < len(keys) and pressure.rate_per_s:
                        self._token_due = now + 1 / pressure.rate_per_s
                    keys = keys[:sendable]
                    submit_keys += keys
                    free -= len(keys)
                if free > 0:
                    lease = now + ctx.settings.timeout_s + _POLL_LEASE_MARGIN_S
                    leases |= dict.fromkeys(await tx.due_polls(name, now, free), lease)
            if not submit_keys and not leases:
                await self._save(tx, list(changes.values()), now)
                return []
            views = await tx.load(
                {p for p, _ in submit_keys} | {p for p, _ in leases}, skip_locked=True
            )
            work: list[Work] = []
            for pid, idx in submit_keys:
                if pid not in views:
                    continue  # another replica is writing it: due again after its commit
                before, after = changes.get(pid, (views[pid], views[pid]))
                if not _submit_due(after.steps[idx], now):
                    continue
                claimed = step_rules.claim_submit(after.steps[idx], now, self.replica)
                after = _with_step(after, claimed)
                changes[pid] = (before, after)
                parent = after.steps[claimed.parent] if claimed.parent is not None else None
                work.append(SubmitWork(claimed, parent))
            polls = [k for k in leases if k[0] in views and _poll_due(views[k[0]], k, now)]
            await tx.lease_polls({k: leases[k] for k in polls})
            for pid, idx in polls:
                step = views[pid].steps[idx]
                trusted = None
                if not self._settings.callback_confirm and step.callback_mode:
                    trusted = await tx.latest_terminal_callback(step)
                work.append(PollWork(step, trusted))
            await self._save(tx, list(changes.values()), now)
            # Counted before the commit so that no other claim can overbook these slots.
            for item in work:
                self._active[_provider(item)] += 1
                if isinstance(item, SubmitWork):
                    self._unrecorded_submits.add(item.step.key)
            counted.extend(work)
            return work

        counted: list[Work] = []

        def _uncount(items: list[Work]) -> None:
            for item in items:
                self._active[_provider(item)] -= 1
                self._unrecorded_submits.discard(item.step.key)
            items.clear()

        try:
            return await self._store.run(job)
        except BaseException:
            _uncount(counted)
            raise

    def _answers(self, step: Step, outcome: Outcome) -> bool:
        """Whether ``outcome`` still speaks for ``step``: a submit's answer only while this
        replica's claim stands, or (a task id) for a step held as ambiguous meanwhile."""
        if not isinstance(outcome, Submitted | SubmitFailed):
            return True
        if step.status is StepStatus.SUBMITTING:
            return step.claimed_by == self.replica
        if step.status is StepStatus.AMBIGUOUS:
            return isinstance(outcome, Submitted) and step.provider_task_id is None
        return step.status is StepStatus.CANCELLED

    def health(self) -> dict[str, dict[str, object]]:
        """Per provider: request window, cooldown, whether submissions are paused, whether
        (and why) it is degraded."""
        return self.provider_health.snapshot()

    def _feel(self, pressure: ProviderPressure, outcome: Outcome) -> None:
        error = outcome.error if isinstance(outcome, SubmitFailed | PollFailed) else None
        if isinstance(error, pe.RateLimited):
            pressure.rate_limited(self._clock(), error.retry_after)
        elif isinstance(error, pe.InsufficientBalance):
            pressure.out_of_balance(self._clock())
        elif error is None:
            pressure.succeeded(submit=isinstance(outcome, Submitted))
        self.provider_health.check(pressure.name)

    async def _adopt(
        self, tx: Transaction, now: float
    ) -> dict[str, tuple[PipelineView, PipelineView]]:
        """Ambiguous submits that a callback identified continue as submitted tasks."""
        changes: dict[str, tuple[PipelineView, PipelineView]] = {}
        found = await tx.adoptable()
        if not found:
            return changes
        views = await tx.load({p for p, _, _ in found})
        for pid, idx, task_id in found:
            if pid not in views:
                continue
            before, after = changes.get(pid, (views[pid], views[pid]))
            changes[pid] = (
                before,
                _with_step(after, step_rules.adopt(after.steps[idx], task_id, now)),
            )
        return changes

    async def _perform(self, item: Work) -> Outcome:
        name = _provider(item)
        provider = self._providers[name]
        pressure = self._pressure[name]
        try:
            if isinstance(item, PollWork):
                await pressure.take_token(self._clock)
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
                await self._record_surely(batch, giving_up=done)
                self._wake.set()

    async def _record_surely(self, batch: Sequence[Outcome], *, giving_up: bool) -> None:
        """Record, trying again while the database is away: an outcome is never dropped
        while reelay runs (a submit's answer names the task it created)."""
        attempt = 0
        while True:
            try:
                await self._record(batch)
            except Exception as exc:
                attempt += 1
                if (giving_up or self._stopping) and attempt >= 3:
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
                self._unrecorded_submits.discard(outcome.key)

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        now = self._clock()

        failed: list[Step] = []

        async def job(tx: Transaction) -> None:
            failed.clear()  # a job may be run again from the start
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
                working[pid] = _with_step(view, step)
                if step.status is StepStatus.FAILED and before.status is not StepStatus.FAILED:
                    failed.append(step)
                if overdue := outcome_rules.overdue(before, step, now, ctx):
                    flags.append(overdue)
            await _poll_now_if_called_back(tx, working, outcomes, now)
            changes = [(views[pid], after) for pid, after in working.items()]
            await self._save(tx, changes, now, flags)

        await self._store.run(job)
        for step in failed:
            health_rules.step_failed(step)

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


def _submit_due(step: Step, now: float) -> bool:
    return step.status is StepStatus.PENDING and step.next_at is not None and step.next_at <= now


def _poll_due(view: PipelineView, key: tuple[str, int], now: float) -> bool:
    step = view.steps[key[1]]
    return step.status.in_flight and step.next_at is not None and step.next_at <= now


def _with_step(view: PipelineView, step: Step) -> PipelineView:
    if view.steps[step.index] is step:
        return view
    steps = list(view.steps)
    steps[step.index] = step
    return replace(view, steps=tuple(steps))


def _provider(item: Work) -> str:
    return item.step.provider
