"""Moving a routed pipeline's base generation to its next provider when the current one
refused the submit before any task existed.

Only the base moves, and only while it has no task: an extend's source lives on the provider
that made it. The move re-plans the whole pipeline from its request on the next provider (its
models differ), keeps the step's ledger row (its reservation was released by the refusal) and
is told as ``step.routed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from orchestrator.domain.models import (
    Decision,
    EventDraft,
    PipelineView,
    Step,
    StepStatus,
)
from orchestrator.domain.prices import PriceBook, usd
from orchestrator.errors import Rejected
from orchestrator.operations import routed_events
from orchestrator.plans import Health, PipelineRequest, plan_on
from orchestrator.providers import errors as pe
from orchestrator.providers.base import Provider


def refusal_moves(error: pe.ProviderError, degraded: Mapping[str, str]) -> bool:
    """Whether a refused submit sends the base elsewhere: a 402 (the provider is paused), or
    any refusal while the provider is degraded (a 429 cooldown, a streak of 5xx or of
    unreachable requests). A single 5xx or 429 is retried where it is."""
    if isinstance(error, pe.InsufficientBalance):
        return True
    transient = (pe.RateLimited, pe.ProviderUnavailable, pe.RequestNotSent)
    return isinstance(error, transient) and bool(degraded)


class Rerouter:
    def __init__(
        self, providers: Mapping[str, Provider], prices: PriceBook, health: Health
    ) -> None:
        self._providers = providers
        self._prices = prices
        self._health = health

    def reroute(
        self, view: PipelineView, base: Step, error: pe.ProviderError, now: float
    ) -> tuple[PipelineView, list[EventDraft]] | None:
        """``view`` on the next provider, with the events telling so; None when it stays."""
        routing = view.pipeline.routing
        if routing is None or base.index != 0 or base.provider_task_id is not None:
            return None
        if base.status is not StepStatus.PENDING and base.status is not StepStatus.FAILED:
            return None
        if any(s.status is not StepStatus.PENDING for s in view.steps[1:]):
            return None
        if not refusal_moves(error, self._health(base.provider)):
            return None
        tried = routing.tried
        for route in routing.routes:
            if route.provider in tried or self._health(route.provider):
                continue
            moved = self._plan(view, route.provider, now)
            if moved is None:
                continue
            cost = "unpriced" if route.estimate_micros is None else f"${usd(route.estimate_micros)}"
            reason = (
                f"{base.provider} refused the submit before any task existed ({error}); "
                f"{route.provider} is the next cheapest healthy provider ({cost})"
            )
            decision = Decision(route.provider, reason, now)
            pipeline = replace(
                moved.pipeline,
                routing=replace(routing, decisions=(*routing.decisions, decision)),
            )
            after = PipelineView(pipeline, moved.steps)
            return after, routed_events(after)
        return None

    def _plan(self, view: PipelineView, provider: str, now: float) -> PipelineView | None:
        routing = view.pipeline.routing
        assert routing is not None
        fields = {k: v for k, v in routing.request.items() if k not in ("provider", "providers")}
        try:
            request = PipelineRequest.model_validate({**fields, "provider": provider})
            planned = plan_on(
                request,
                self._providers[provider],
                self._prices,
                pipeline_id=view.pipeline.id,
                now=now,
                idempotency_key=view.pipeline.idempotency_key,
                allow_private_webhooks=True,  # the webhook URL was checked at creation
            )
        except (Rejected, ValueError):
            return None
        if len(planned.steps) != len(view.steps):
            return None  # extends added since: they were planned for the current provider
        old = view.steps
        base = replace(
            planned.steps[0],
            created_at=old[0].created_at,
            billing=old[0].billing,
            billing_seq=old[0].billing_seq,
            next_at=now,
            updated_at=now,
        )
        rest = tuple(
            replace(new, created_at=was.created_at, updated_at=now)
            for new, was in zip(planned.steps[1:], old[1:], strict=True)
        )
        pipeline = replace(
            view.pipeline,
            provider=provider,
            status=view.pipeline.status,
            updated_at=now,
        )
        return PipelineView(pipeline, (base, *rest))
