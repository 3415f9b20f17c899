"""The engine: claims due work from the store, performs it against providers, records outcomes.

Claiming is a write (``claim``), performing is concurrent and bounded per provider
(``perform``), and recording is batched (``record``). ``run_once`` does one synchronous pass
of all three, for tests; ``run`` pipelines them on the claim loop every background worker
shares until ``stop``, beside a heartbeat that keeps this replica's submits its own and takes
over those of replicas that died (``replicas``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence

from orchestrator.claim_loop import ClaimLoop
from orchestrator.domain.prices import DEFAULT_ROWS, PriceBook
from orchestrator.engine import health as health_rules
from orchestrator.engine import outcomes as outcome_rules
from orchestrator.engine.claim import Claimer, Key
from orchestrator.engine.perform import (
    CallbackUrlFor,
    FrameUrlFor,
    Outcome,
    Performer,
    PollWork,
    SubmitWork,
    Work,
)
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.engine.provider_report import ProviderReport
from orchestrator.engine.record import Recorder
from orchestrator.engine.replicas import Replicas
from orchestrator.engine.request_stats import RequestStats
from orchestrator.engine.reroute import Rerouter
from orchestrator.providers.base import Provider
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store

log = logging.getLogger("reelay.engine")

SHUTDOWN_SUBMIT_WAIT_S = 8.0
"""How long ``stop`` waits for submits in flight to be answered (SIGTERM exits within ~10 s)."""


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
        frame_url_for: FrameUrlFor | None = None,
        provider_settings: Mapping[str, ProviderSettings] | None = None,
        replica: str | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        rng = rng or random.Random()
        configs = provider_settings or {name: settings.provider(name) for name in providers}
        contexts = {
            name: outcome_rules.Context(
                settings=configs[name],
                capabilities=provider.capabilities,
                max_submit_attempts=settings.submit_retry_max_attempts,
                rng=rng,
                resubmit_ambiguous=settings.ambiguous_policy == "resubmit",
            )
            for name, provider in providers.items()
        }
        pressure = {
            name: ProviderPressure(
                name,
                configs[name].max_concurrent_requests,
                configs[name].max_requests_per_s,
            )
            for name in providers
        }
        self.provider_health = health_rules.ProviderHealth(pressure, clock=clock)
        """Which providers are degraded; feed it every exchange (``observe``)."""
        self.request_stats = RequestStats(providers, clock=clock)
        """The last hour of requests per provider; feed it every exchange (``observe``)."""
        self.provider_report = ProviderReport(
            store,
            pressure,
            self.provider_health,
            self.request_stats,
            configured={name: configs[name].api_key is not None for name in providers},
            clock=clock,
        )
        """What each provider is doing: ``GET /v1/providers``."""
        self.replica = replica or store.instance
        """The name this replica's submits carry while in flight."""
        stopped = self._stopped = asyncio.Event()
        self._claimer = Claimer(
            store, settings, contexts, pressure, self.replica, clock=clock, stopped=stopped
        )
        self._performer = Performer(
            providers,
            pressure,
            self.provider_health,
            self.request_stats,
            clock=clock,
            callback_url_for=callback_url_for,
            frame_url_for=frame_url_for,
        )
        self._recorder = Recorder(
            store,
            contexts,
            self._claimer,
            self.replica,
            clock=clock,
            stopped=stopped,
            wake=self.wake,
            rerouter=Rerouter(
                providers, prices or PriceBook(DEFAULT_ROWS), self.provider_health.reasons
            ),
        )
        self._replicas = Replicas(
            store, settings, self.replica, clock=clock, stopped=stopped, wake=self.wake
        )
        self._loop: ClaimLoop[Work] = ClaimLoop(
            claim=self._claimer.claim_again,
            perform=self._perform_and_queue,
            next_due=self._claimer.next_due,
            clock=clock,
            concurrency=None,  # the claim admits per provider
            tick_s=settings.engine_tick_s,
            wake_on_done=False,  # ``perform`` wakes it when a full provider frees a slot
            drain=self._drain,
            name="work",
            logger=log,
        )
        self._unanswered_polls: set[Key] = set()
        self._cut_off: list[Key] = []

    def wake(self) -> None:
        """Look for work now (a pipeline was created, a callback arrived, a slot freed)."""
        self._loop.wake()

    def stop(self) -> None:
        """Stop claiming; ``run`` returns once submits in flight are answered and recorded."""
        self._stopped.set()
        self._loop.stop()

    def health(self) -> dict[str, dict[str, object]]:
        """Per provider: request window, cooldown, whether submissions are paused, whether
        (and why) it is degraded."""
        return self.provider_health.snapshot()

    async def heartbeat(self) -> None:
        """Tell the other replicas this one is alive (its submits in flight are its own)."""
        await self._replicas.heartbeat()

    async def recover(self, *, starting: bool = False) -> int:
        """Take over the submits in flight of replicas that died (see ``Replicas.recover``).
        Returns how many steps were taken over."""
        return await self._replicas.recover(starting=starting)

    async def leave(self) -> None:
        """Hand this replica's submits in flight over to the others now, not after the TTL."""
        await self._replicas.leave()

    async def claim(self) -> list[Work]:
        """Claim everything due that the providers admit now."""
        return await self._claimer.claim()

    async def perform(self, item: Work) -> Outcome:
        """Perform claimed work against its provider; its request slot is free again after."""
        try:
            return await self._performer.perform(item)
        finally:
            if self._claimer.answered(item):
                self.wake()  # a claim may have left due work behind for lack of this slot

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Apply outcomes to their steps, in one transaction."""
        await self._recorder.record(outcomes)

    async def run_once(self) -> int:
        """Claim everything due, perform it, record the outcomes. Returns how much was done."""
        work = await self.claim()
        outcomes = await asyncio.gather(*(self.perform(w) for w in work))
        if outcomes:
            await self.record(outcomes)
        return len(work)

    async def run(self) -> None:
        """Until ``stop``. A store error never ends it: claims and records are tried again
        with backoff while the database is away."""
        if not await self._loop.retry_until_stopped(self._replicas.start):
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._recorder.run())
            tg.create_task(self._replicas.keep_alive())
            try:
                await self._loop.run()
            finally:
                self._recorder.close()
                keys, self._unanswered_polls = self._unanswered_polls, set()
                await self._claimer.release_polls(keys)
        await self._replicas.hold_cut_off(self._cut_off)
        await self.leave()

    async def _perform_and_queue(self, item: Work) -> None:
        if isinstance(item, PollWork):
            self._unanswered_polls.add(item.step.key)
        outcome = await self.perform(item)
        self._unanswered_polls.discard(item.step.key)
        self._recorder.put(outcome)

    async def _drain(self, in_flight: Mapping[asyncio.Task[None], Work]) -> None:
        """At ``stop``: polls are read-only, so they are dropped (their leases handed back).
        Submits are not: each is answered and recorded, or, cut off by the wait, held."""
        polls = {t for t, item in in_flight.items() if isinstance(item, PollWork)}
        submits = {t: item for t, item in in_flight.items() if isinstance(item, SubmitWork)}
        for task in polls:
            task.cancel()
        if submits:
            # Bounded so that SIGTERM exits within ~10 s. A submit cut off here may or may
            # not have reached the provider: it is held (``Replicas.hold_cut_off``).
            _, late = await asyncio.wait(submits, timeout=SHUTDOWN_SUBMIT_WAIT_S)
            for task in late:
                task.cancel()
                self._cut_off.append(submits[task].step.key)
        if polls:
            await asyncio.wait(polls)
