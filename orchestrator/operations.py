"""What users can do to pipelines: create, read, list, cancel, retry, extend. The API, the CLI
(through the API) and the dashboard call these.

Every action that changes a pipeline is audited: in the same transaction as the change, right
after the change's own events, one ``action.*`` event says who did it (``actor``: the name of
the API token, ``anonymous``, or the dashboard's caller) and why (``reason``, when given).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.domain import pipelines as pipeline_rules
from orchestrator.domain.models import (
    Event,
    EventDraft,
    PipelineStatus,
    PipelineView,
    new_pipeline_id,
)
from orchestrator.domain.prices import DEFAULT_ROWS, PriceBook, usd
from orchestrator.errors import Conflict, FieldProblem, NotFound, Rejected, joined
from orchestrator.plans import (
    ExtendSpec,
    Health,
    PipelineRequest,
    PlanRejected,
    plan,
    plan_extend,
    projected_spend,
)
from orchestrator.providers.base import Provider
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition

# Conflict and NotFound are raised here; callers that catch them may import them from here.
__all__ = [
    "MAX_REASON",
    "Conflict",
    "Created",
    "NotFound",
    "Operations",
    "Outcome",
    "action_reason",
    "is_pipeline_id",
]

_PIPELINE_ID = re.compile(r"pl_[0-9a-f]{24}")

MAX_REASON = 500
"""The longest reason an action keeps, in characters, after trimming."""
DEFAULT_ACTOR = "api"


def action_reason(reason: str | None) -> str | None:
    """``reason`` trimmed, None when blank; longer than ``MAX_REASON`` is ``Rejected``
    naming ``reason`` (422)."""
    trimmed = (reason or "").strip()
    if len(trimmed) > MAX_REASON:
        problem = FieldProblem(
            "reason", f"must be at most {MAX_REASON} characters (trimmed), got {len(trimmed)}"
        )
        raise Rejected(joined([problem]), [problem])
    return trimmed or None


def _audit(
    action: str,
    view: PipelineView,
    actor: str,
    reason: str | None,
    what: Mapping[str, object] | None = None,
    *,
    step: int | None = None,
) -> EventDraft:
    """The ``action.<action>`` event: who did it and why, and ``what`` it did."""
    data = {"actor": actor, "reason": reason, **(what or {})}
    return EventDraft(f"action.{action}", view.pipeline.id, step, data)


def routed_events(view: PipelineView) -> list[EventDraft]:
    """``step.routed`` for a routed pipeline's latest choice of provider."""
    routing = view.pipeline.routing
    if routing is None or not routing.decisions:
        return []
    last = routing.decisions[-1]
    data = {"index": 0, "provider": last.provider, "reason": last.reason}
    return [EventDraft("step.routed", view.pipeline.id, 0, data)]


async def _check_budget(tx: Transaction, grown: PipelineView) -> None:
    """Refuse an extend that would take the pipeline past its ``budget_usd`` (422)."""
    budget = grown.pipeline.budget_micros
    if budget is None:
        return
    committed = (await tx.money.committed_of([grown.pipeline.id])).get(grown.pipeline.id, 0)
    projected = projected_spend(grown, committed)
    if projected is None:
        new = grown.steps[-1]
        message = (
            f"{new.provider} {new.model} {new.kind} has no price, so the pipeline's budget "
            "cannot be kept; add its price to REELAY_PRICES_FILE"
        )
    elif projected > budget:
        message = (
            f"this extend would bring the pipeline to ${usd(projected)} "
            f"(${usd(committed)} reserved or charged so far), past its budget of ${usd(budget)}"
        )
    else:
        return
    problem = FieldProblem("budget_usd", message)
    raise Rejected(joined([problem]), [problem])


@dataclass(frozen=True, slots=True)
class Created:
    """One request of ``create_many``: its pipeline, ``created`` now or found under its key."""

    view: PipelineView
    created: bool = True


Outcome = Created | Rejected | Conflict
"""What became of one request of ``create_many``."""


def _keyed(view: PipelineView, taken: dict[str, PipelineView]) -> Created | Conflict:
    """``view`` to create, or what its idempotency key already names; ``taken`` (every key's
    pipeline) learns the key."""
    key = view.pipeline.idempotency_key
    if key is None:
        return Created(view)
    existing = taken.setdefault(key, view)
    if existing is view:
        return Created(view)
    if existing.pipeline.request_hash != view.pipeline.request_hash:
        return Conflict("idempotency_key was already used with a different request body")
    return Created(existing, created=False)


def is_pipeline_id(value: str) -> bool:
    """Whether ``value`` has the shape of a pipeline id (listing's cursor is one)."""
    return _PIPELINE_ID.fullmatch(value) is not None


class Operations:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        allow_private_webhooks: bool = False,
        prices: PriceBook | None = None,
        health: Health | None = None,
        routable: Collection[str] | None = None,
        frames_published: bool = True,
    ) -> None:
        """``frames_published``: videos are kept and providers can fetch frames from reelay
        (REELAY_PUBLIC_URL is set), which continuations need."""
        self._store = store
        self._frames_published = frames_published
        self._providers = providers
        self.prices = prices or PriceBook(DEFAULT_ROWS)
        self._health: Health = health or (lambda _name: {})
        self._routable = routable
        self._wake = wake
        self._clock = clock
        self._allow_private_webhooks = allow_private_webhooks

    async def create(
        self,
        request: PipelineRequest,
        idempotency_key: str | None = None,
        *,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
    ) -> tuple[PipelineView, bool]:
        """Store a new pipeline, audited as ``action.created``; with a key already used for
        this body, return that one and write nothing."""
        reason = action_reason(reason)
        now = self._clock()
        view = self.plan(request, new_pipeline_id(now), idempotency_key=idempotency_key)

        async def job(tx: Transaction) -> tuple[PipelineView, bool]:
            if idempotency_key is not None:
                existing = await tx.pipelines.by_idempotency_key(idempotency_key)
                if existing is not None:
                    if existing.pipeline.request_hash != view.pipeline.request_hash:
                        raise Conflict(
                            "Idempotency-Key was already used with a different request body"
                        )
                    return existing, False
            audit = _audit("created", view, actor, reason)
            extra = [audit, *routed_events(view)]
            await commit_transition(tx, [(None, view)], now, extra=extra)
            return view, True

        result = await self._store.run(job)
        if result[1]:
            self._wake()
        return result

    async def create_many(
        self,
        requests: Sequence[tuple[PipelineRequest, str | None]],
        *,
        actor: str = DEFAULT_ACTOR,
    ) -> list[Outcome]:
        """``create`` for each (request, idempotency key), all in one transaction; one outcome
        per request, in order. A refused request does not stop the others. A key given twice:
        the second gets the first's pipeline, or a ``Conflict`` when the bodies differ."""
        now = self._clock()
        planned: list[PipelineView | Rejected] = []
        for request, key in requests:
            try:
                planned.append(self.plan(request, new_pipeline_id(now), idempotency_key=key))
            except Rejected as exc:
                planned.append(exc)

        async def job(tx: Transaction) -> list[Outcome]:
            views = [p for p in planned if isinstance(p, PipelineView)]
            keys = [k for v in views if (k := v.pipeline.idempotency_key) is not None]
            taken = await tx.pipelines.by_idempotency_keys(keys)
            outcomes = [p if isinstance(p, Rejected) else _keyed(p, taken) for p in planned]
            new = [o.view for o in outcomes if isinstance(o, Created) and o.created]
            if new:
                extra = [
                    e for v in new for e in (_audit("created", v, actor, None), *routed_events(v))
                ]
                await commit_transition(tx, [(None, v) for v in new], now, extra=extra)
            return outcomes

        outcomes = await self._store.run(job)
        if any(isinstance(o, Created) and o.created for o in outcomes):
            self._wake()
        return outcomes

    def plan(
        self, request: PipelineRequest, pipeline_id: str, *, idempotency_key: str | None = None
    ) -> PipelineView:
        """The pipeline ``request`` would create, priced and routed, storing nothing: a quote
        is this plan."""
        view = plan(
            request,
            self._providers,
            pipeline_id=pipeline_id,
            now=self._clock(),
            idempotency_key=idempotency_key,
            allow_private_webhooks=self._allow_private_webhooks,
            prices=self.prices,
            health=self._health,
            routable=self._routable,
        )
        continuations = [s.index for s in view.steps if s.continues]
        if continuations:
            field = "target_seconds" if request.target_seconds else "extends"
            self._check_frames_published(f"{field} (step {continuations[0]})")
        return view

    def _check_frames_published(self, field: str) -> None:
        if not self._frames_published:
            raise PlanRejected(
                [
                    FieldProblem(
                        field,
                        "a continuation starts from its parent's kept video's last frame, "
                        "which the provider fetches from reelay's public listener; set "
                        "REELAY_PUBLIC_URL (and leave REELAY_KEEP_VIDEOS on)",
                    )
                ]
            )

    async def get(self, pipeline_id: str) -> PipelineView:
        view = await self._store.get(pipeline_id)
        if view is None:
            raise NotFound(f"no pipeline {pipeline_id}")
        return view

    async def list_pipelines(
        self,
        *,
        status: str | None,
        provider: str | None,
        limit: int,
        cursor: str | None,
        created_from: float | None = None,
        created_to: float | None = None,
        text: str | None = None,
    ) -> list[PipelineView]:
        return await self._store.list_pipelines(
            status=status,
            provider=provider,
            limit=limit,
            before_id=cursor,
            created_from=created_from,
            created_to=created_to,
            text=text,
        )

    async def count_pipelines(
        self,
        *,
        provider: str | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        text: str | None = None,
    ) -> dict[str, int]:
        return await self._store.count_pipelines(
            provider=provider, created_from=created_from, created_to=created_to, text=text
        )

    async def cancel(
        self, pipeline_id: str, *, actor: str = DEFAULT_ACTOR, reason: str | None = None
    ) -> PipelineView:
        """Cancel every unfinished step, audited as ``action.cancelled``. A finished pipeline
        cannot be cancelled (409)."""
        reason = action_reason(reason)
        now = self._clock()

        async def job(tx: Transaction) -> PipelineView:
            view = (await tx.pipelines.load([pipeline_id])).get(pipeline_id)
            if view is None:
                raise NotFound(f"no pipeline {pipeline_id}")
            if view.pipeline.status.finished:
                raise Conflict(f"pipeline {pipeline_id} already {view.pipeline.status}")
            after = pipeline_rules.cancel(view, now)
            audit = _audit("cancelled", view, actor, reason)
            await commit_transition(tx, [(view, after)], now, extra=[audit])
            return after

        return await self._store.run(job)

    async def retry(
        self, pipeline_id: str, *, actor: str = DEFAULT_ACTOR, reason: str | None = None
    ) -> PipelineView:
        """Resume a failed pipeline (or one holding ambiguous steps) from those steps, audited
        as ``action.retried`` with the indexes of the ``steps`` resumed."""
        reason = action_reason(reason)
        now = self._clock()

        async def job(tx: Transaction) -> PipelineView:
            view = (await tx.pipelines.load([pipeline_id])).get(pipeline_id)
            if view is None:
                raise NotFound(f"no pipeline {pipeline_id}")
            if view.pipeline.status is PipelineStatus.CANCELLED:
                raise Conflict(f"pipeline {pipeline_id} was cancelled; create a new one")
            after = pipeline_rules.retry(view, now)
            if after is view:
                raise Conflict(f"pipeline {pipeline_id} has no failed or ambiguous step to retry")
            resumed = [
                a.index
                for b, a in zip(view.steps, after.steps, strict=True)
                if a.status != b.status
            ]
            audit = _audit("retried", view, actor, reason, {"steps": resumed})
            await commit_transition(tx, [(view, after)], now, extra=[audit])
            return after

        view = await self._store.run(job)
        self._wake()
        return view

    async def add_extend(
        self,
        pipeline_id: str,
        ext: ExtendSpec,
        *,
        actor: str = DEFAULT_ACTOR,
        reason: str | None = None,
    ) -> PipelineView:
        """Append an extend step, audited as ``action.extended`` with its ``index`` and the
        step it continues (``from``); a succeeded pipeline runs again until it is done."""
        reason = action_reason(reason)
        now = self._clock()

        async def job(tx: Transaction) -> PipelineView:
            view = (await tx.pipelines.load([pipeline_id])).get(pipeline_id)
            if view is None:
                raise NotFound(f"no pipeline {pipeline_id}")
            if view.pipeline.status in (PipelineStatus.CANCELLED, PipelineStatus.FAILED):
                raise Conflict(
                    f"pipeline {pipeline_id} {view.pipeline.status}; it cannot be extended"
                )
            provider = self._providers[view.pipeline.provider]
            step = plan_extend(view, ext, provider, now, self.prices)
            if step.continues:
                self._check_frames_published("mode")
            grown = PipelineView(view.pipeline, (*view.steps, step))
            await _check_budget(tx, grown)
            after = pipeline_rules.settle(grown, now)
            what = {"index": step.index, "from": step.parent}
            audit = _audit("extended", view, actor, reason, what, step=step.index)
            await commit_transition(tx, [(view, after)], now, extra=[audit])
            return after

        view = await self._store.run(job)
        self._wake()
        return view

    async def events(self, pipeline_id: str, after_seq: int, limit: int) -> list[Event]:
        await self.get(pipeline_id)
        return await self._store.events(pipeline_id, after_seq, limit)
