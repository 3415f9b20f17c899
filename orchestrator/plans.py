"""From a pipeline request to a validated, not-yet-stored pipeline — or every reason it can't be.

Nothing here spends money or touches the store: a refused request leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from orchestrator.domain.media import BASE_SECONDS, EXTEND_SECONDS
from orchestrator.domain.models import (
    Billing,
    Decision,
    Pipeline,
    PipelineStatus,
    PipelineView,
    Route,
    Routing,
    Step,
    StepStatus,
)
from orchestrator.domain.pipelines import depth
from orchestrator.domain.prices import DEFAULT_ROWS, PriceBook, to_micros, usd
from orchestrator.domain.values import StepKind, Tier, VideoParams
from orchestrator.errors import FieldProblem, Rejected, joined
from orchestrator.providers.base import Provider
from orchestrator.providers.errors import InvalidRequest
from orchestrator.settings import PROVIDER_NAMES
from orchestrator.webhooks.ssrf import registration_refusal


def _not_blank(prompt: str) -> str:
    """A prompt of only whitespace would be sent, and paid for, as an empty one."""
    if not prompt.strip():
        raise PydanticCustomError("blank", "must not be blank (only whitespace)")
    return prompt


class ExtendSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(min_length=1, max_length=10_000)
    from_: int | None = Field(
        default=None, alias="from", description="Step to continue; default the step before"
    )
    model: str | None = Field(default=None, description="Extend model; default per provider")
    mode: Literal["extend", "continue"] = Field(
        default="extend",
        description='"extend" asks the provider to extend the step; "continue" starts a new '
        "image-to-video generation from the step's last frame (past the provider's extend "
        "depth)",
    )
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        return _not_blank(prompt)


MAX_EXTENDS = 100

FRAME_PLACEHOLDER = "https://reelay.invalid/frames/placeholder.png"
"""Stands for the frame URL a continuation is sent with, when its parameters are checked."""

AUTO = "auto"
"""``"provider": "auto"``: route the base generation to any configured provider."""


def usd_amount(value: object) -> object:
    """USD as a decimal string ("5.00") or a whole number; a binary float is not exact."""
    if isinstance(value, float):
        raise PydanticCustomError(
            "usd_float", 'give USD as a decimal string such as "5.00" (a JSON number is inexact)'
        )
    if isinstance(value, str):
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise PydanticCustomError(
                "usd", 'must be an amount in USD as a decimal string such as "5.00"'
            ) from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -6:  # type: ignore[operator]
            raise PydanticCustomError(
                "usd", "must be a non-negative amount in USD with at most 6 decimal places"
            )
        return amount
    return value


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(
        default=None,
        json_schema_extra={"enum": [*PROVIDER_NAMES, AUTO]},
        description='One provider, or "auto" to route the base generation to the cheapest '
        "healthy configured one",
    )
    providers: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=len(PROVIDER_NAMES),
        description="Providers the base generation may be routed to (instead of provider)",
    )
    budget_usd: Decimal | None = Field(
        default=None,
        ge=0,
        description='The most this pipeline may spend, as a decimal string ("5.00")',
    )
    model: str | None = None
    tier: Tier | None = None
    prompt: str = Field(min_length=1, max_length=10_000)
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)
    extends: list[ExtendSpec] = Field(default_factory=list, max_length=MAX_EXTENDS)
    target_seconds: int | None = Field(
        default=None,
        ge=1,
        le=600,
        description="How long the video should be: reelay plans extends up to the provider's "
        "depth and continuations after that (instead of extends)",
    )
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        return _not_blank(prompt)

    @field_validator("budget_usd", mode="before")
    @classmethod
    def _budget_exact(cls, value: object) -> object:
        return usd_amount(value)

    def fingerprint(self) -> str:
        """Identifies the request's content, for idempotency-key comparison."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


class PlanRejected(Rejected):
    """Every reason the request cannot run, each naming its field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(joined(problems), problems)


def check_extend(
    provider: Provider, base_model: str, ext: ExtendSpec, depth: int, *, field: str
) -> tuple[str, list[FieldProblem]]:
    """The extend (or continuation) model for ``ext`` at ``depth``, and every reason it
    cannot run."""
    if ext.mode == "continue":
        return check_continuation(provider, base_model, ext, field=field)
    problems: list[FieldProblem] = []
    limit = provider.capabilities.max_extend_depth
    if depth > limit:
        problems.append(
            FieldProblem(
                field,
                f"extend depth {depth} exceeds {provider.name}'s limit of {limit}"
                + (" (branch from step 0 instead)" if limit == 1 else ""),
            )
        )
    model = ""
    if base_model:
        try:
            model = provider.extend_model(base_model, ext.model)
        except InvalidRequest as exc:
            problems.append(FieldProblem(f"{field}.model", exc.message))
    if model:
        problems += [
            FieldProblem(f"{field}.params.{p.field}", p.message)
            for p in provider.check_params("extend", model, ext.params)
        ]
    return model, problems


def check_continuation(
    provider: Provider, base_model: str, ext: ExtendSpec, *, field: str
) -> tuple[str, list[FieldProblem]]:
    """The generation model for a continuation, and every reason it cannot run: the provider
    must take a first frame, and the request's parameters must suit image-to-video."""
    if not provider.capabilities.first_frame:
        return "", [
            FieldProblem(
                f"{field}.mode",
                f"{provider.name} cannot start a generation from a picture (no image-to-video), "
                "so it cannot continue a video; use extend, or another provider",
            )
        ]
    problems: list[FieldProblem] = []
    if ext.params.first_frame_url is not None:
        problems.append(
            FieldProblem(
                f"{field}.params.first_frame_url",
                "a continuation starts from its parent's last frame; reelay sets this",
            )
        )
    model = ""
    if base_model or ext.model:
        try:
            model = provider.resolve_model(None, ext.model or base_model)
        except InvalidRequest as exc:
            problems.append(FieldProblem(f"{field}.model", exc.message))
    if model:
        framed = ext.params.model_copy(update={"first_frame_url": FRAME_PLACEHOLDER})
        problems += [
            FieldProblem(f"{field}.params.{p.field}", p.message)
            for p in provider.check_params("generate", model, framed)
            if p.field != "first_frame_url"
        ]
    return model, problems


def lengthened(request: PipelineRequest, provider: Provider) -> list[ExtendSpec]:
    """The steps after the base that make ``request.target_seconds``: extends up to the
    provider's depth, then a continuation from the last one, and so on; or ``PlanRejected``
    naming ``target_seconds``."""
    target = request.target_seconds or 0
    if request.extends:
        raise PlanRejected(
            [FieldProblem("target_seconds", "give either target_seconds or extends, not both")]
        )
    caps = provider.capabilities
    base = float(request.params.duration or BASE_SECONDS)
    specs: list[ExtendSpec] = []
    total, chain_depth, last = base, 0, 0
    while total < target:
        if chain_depth < caps.max_extend_depth:
            specs.append(ExtendSpec.model_validate({"prompt": request.prompt, "from": last}))
            total, chain_depth = total + EXTEND_SECONDS, chain_depth + 1
        elif caps.first_frame:
            continuation = {"prompt": request.prompt, "from": last, "mode": "continue"}
            look = request.params.model_copy(
                update={"first_frame_url": None, "last_frame_url": None}
            )
            specs.append(ExtendSpec.model_validate({**continuation, "params": look}))
            total, chain_depth = total + base, 0
        else:
            raise PlanRejected(
                [
                    FieldProblem(
                        "target_seconds",
                        f"{provider.name} reaches at most {total:g} s ({caps.max_extend_depth} "
                        f"extend(s) of {EXTEND_SECONDS:g} s) and cannot continue a video "
                        "(no image-to-video)",
                    )
                ]
            )
        last = len(specs)
        if len(specs) > MAX_EXTENDS:
            raise PlanRejected(
                [
                    FieldProblem(
                        "target_seconds",
                        f"{target} s needs more than {MAX_EXTENDS} steps on {provider.name}",
                    )
                ]
            )
    return specs


Health = Callable[[str], Mapping[str, str]]
"""Why a provider is degraded right now (empty: it is healthy)."""


def _healthy(name: str) -> Mapping[str, str]:
    return {}


def plan(
    request: PipelineRequest,
    providers: Mapping[str, Provider],
    *,
    pipeline_id: str,
    now: float,
    idempotency_key: str | None = None,
    allow_private_webhooks: bool = False,
    prices: PriceBook | None = None,
    health: Health = _healthy,
    routable: Collection[str] | None = None,
) -> PipelineView:
    """The pipeline ``request`` asks for, every step priced, or ``PlanRejected`` naming each
    wrong field. A request naming several providers (or ``"auto"``: every ``routable`` one)
    is planned on each; the cheapest healthy one that can serve it all runs it, and the others
    stay in the pipeline's ``routing``, best first."""
    book = prices or PriceBook(DEFAULT_ROWS)
    names, field = _candidates(request, providers, routable)

    def on(name: str) -> PipelineView:
        return plan_on(
            request,
            providers[name],
            book,
            pipeline_id=pipeline_id,
            now=now,
            idempotency_key=idempotency_key,
            allow_private_webhooks=allow_private_webhooks,
        )

    if request.provider is not None and request.provider != AUTO:
        view = on(names[0])
        refusal = budget_refusal(view, view.pipeline.budget_micros)
        if refusal is not None:
            raise PlanRejected([FieldProblem("budget_usd", refusal)])
        return view
    planned: dict[str, PipelineView] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            view = on(name)
        except PlanRejected as exc:
            skipped[name] = str(exc)
            continue
        refusal = budget_refusal(view, view.pipeline.budget_micros)
        if refusal is not None:
            skipped[name] = f"budget_usd: {refusal}"
            continue
        planned[name] = view
    if not planned:
        reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items())
        raise PlanRejected([FieldProblem(field, f"no provider can serve this request ({reasons})")])
    order = sorted(
        planned,
        key=lambda n: (bool(health(n)), _rank(total_estimate(planned[n])), names.index(n)),
    )
    routes = tuple(Route(n, total_estimate(planned[n])) for n in order)
    chosen = planned[order[0]]
    reason = _first_reason(routes, health)
    routing = Routing(
        routes=routes,
        request=request.model_dump(mode="json", by_alias=True, exclude_none=True),
        skipped=skipped,
        decisions=(Decision(order[0], reason, now),),
    )
    return replace(chosen, pipeline=replace(chosen.pipeline, routing=routing))


def _candidates(
    request: PipelineRequest, providers: Mapping[str, Provider], routable: Collection[str] | None
) -> tuple[list[str], str]:
    """The providers to plan on, and the field that named them."""
    known = ", ".join(sorted(providers))
    if (request.provider is None) == (request.providers is None):
        raise PlanRejected(
            [
                FieldProblem(
                    "provider",
                    'give either provider (a name, or "auto" for every configured provider) '
                    "or providers (a list of names)",
                )
            ]
        )
    if request.providers is not None:
        unknown = [n for n in request.providers if n not in providers]
        if unknown:
            raise PlanRejected(
                [FieldProblem("providers", f"unknown provider {unknown[0]!r}; one of {known}")]
            )
        if len(set(request.providers)) != len(request.providers):
            raise PlanRejected([FieldProblem("providers", "names a provider twice")])
        return list(request.providers), "providers"
    if request.provider == AUTO:
        names = [n for n in providers if routable is None or n in routable]
        if not names:
            raise PlanRejected(
                [FieldProblem("provider", "auto: no provider is configured (no API key set)")]
            )
        return names, "provider"
    if request.provider not in providers:
        raise PlanRejected(
            [FieldProblem("provider", f"unknown provider {request.provider!r}; one of {known}")]
        )
    return [str(request.provider)], "provider"


def total_estimate(view: PipelineView) -> int | None:
    """What every step of the pipeline should cost once; None when a step is unpriced."""
    amounts = [s.estimate_micros for s in view.steps]
    return None if None in amounts else sum(a for a in amounts if a is not None)


def unpriced_steps(view: PipelineView) -> list[int]:
    return [s.index for s in view.steps if s.estimate_micros is None]


def budget_refusal(view: PipelineView, budget: int | None) -> str | None:
    """Why ``view`` cannot be held to ``budget`` (micro-USD), or None."""
    if budget is None:
        return None
    unpriced = unpriced_steps(view)
    if unpriced:
        steps = ", ".join(str(i) for i in unpriced)
        first = view.steps[unpriced[0]]
        return (
            f"step(s) {steps} have no price ({first.provider} {first.model} {first.kind}), so a "
            "budget cannot be kept; add their prices to REELAY_PRICES_FILE"
        )
    total = total_estimate(view) or 0
    if total > budget:
        return f"the estimate ${usd(total)} exceeds the budget of ${usd(budget)}"
    return None


def _rank(estimate: int | None) -> tuple[bool, int]:
    """Priced before unpriced (whose cost is unknown), cheaper first."""
    return (estimate is None, estimate or 0)


def _first_reason(routes: tuple[Route, ...], health: Health) -> str:
    def said(r: Route) -> str:
        cost = "unpriced" if r.estimate_micros is None else f"${usd(r.estimate_micros)}"
        why = health(r.provider)
        return f"{r.provider} {cost}" + (f" (degraded: {', '.join(why)})" if why else "")

    best = routes[0]
    if len(routes) == 1:
        return f"the only provider that can serve the request: {said(best)}"
    word = (
        "cheapest healthy" if not health(best.provider) else "every provider is degraded; cheapest"
    )
    return f"{word} of {', '.join(said(r) for r in routes)}"


def plan_on(
    request: PipelineRequest,
    provider: Provider,
    prices: PriceBook,
    *,
    pipeline_id: str,
    now: float,
    idempotency_key: str | None,
    allow_private_webhooks: bool,
) -> PipelineView:
    """The pipeline on one provider, each step with its estimate, or every reason it can't."""
    problems: list[FieldProblem] = []
    if request.webhook_url is not None:
        refusal = registration_refusal(request.webhook_url, allow_private=allow_private_webhooks)
        if refusal is not None:
            problems.append(FieldProblem("webhook_url", refusal))
    base_model = ""
    try:
        base_model = provider.resolve_model(request.tier, request.model)
    except InvalidRequest as exc:
        problems.append(FieldProblem("model", exc.message))
    if base_model:
        problems += [
            FieldProblem(f"params.{p.field}", p.message)
            for p in provider.check_params("generate", base_model, request.params)
        ]
    extends = request.extends
    if request.target_seconds is not None:
        extends = lengthened(request, provider)
    links: list[tuple[int, int | None]] = [(0, None)]
    for i, ext in enumerate(extends):
        index = i + 1
        parent = index - 1 if ext.from_ is None else ext.from_
        if not 0 <= parent < index:
            problems.append(
                FieldProblem(
                    f"extends[{i}].from",
                    f"must name an earlier step (0..{index - 1}); step {index} cannot "
                    f"continue step {parent}",
                )
            )
            parent = index - 1
        links.append((index, parent))
    depths = depth(
        (index, None if i and extends[i - 1].mode == "continue" else parent)
        for i, (index, parent) in enumerate(links)
    )
    models: list[str] = [base_model]
    generation: list[int] = [0]  # each step's nearest generation: the base or a continuation
    for i, ext in enumerate(extends):
        parent = links[i + 1][1] or 0
        chain_model = models[generation[parent]]
        model, found = check_extend(
            provider, chain_model, ext, depths[i + 1], field=f"extends[{i}]"
        )
        generation.append(i + 1 if ext.mode == "continue" else generation[parent])
        problems += found
        models.append(model)
    if problems:
        raise PlanRejected(problems)

    pipeline = Pipeline(
        id=pipeline_id,
        provider=provider.name,
        status=PipelineStatus.PENDING,
        created_at=now,
        updated_at=now,
        metadata=request.metadata,
        webhook_url=request.webhook_url,
        idempotency_key=idempotency_key,
        request_hash=request.fingerprint(),
        budget_micros=None if request.budget_usd is None else to_micros(request.budget_usd),
    )
    steps = [
        Step(
            pipeline_id=pipeline_id,
            index=0,
            provider=provider.name,
            kind="generate",
            parent=None,
            prompt=request.prompt,
            model=base_model,
            params=request.params,
            provider_options=request.provider_options,
            status=StepStatus.PENDING,
            created_at=now,
            updated_at=now,
            next_at=now,
            estimate_micros=prices.estimate(provider.name, base_model, "generate", request.params),
        )
    ]
    for i, ext in enumerate(extends):
        kind: StepKind = "generate" if ext.mode == "continue" else "extend"
        steps.append(
            Step(
                pipeline_id=pipeline_id,
                index=i + 1,
                provider=provider.name,
                kind=kind,
                parent=links[i + 1][1],
                prompt=ext.prompt,
                model=models[i + 1],
                params=ext.params,
                provider_options=ext.provider_options,
                status=StepStatus.PENDING,
                created_at=now,
                updated_at=now,
                estimate_micros=prices.estimate(provider.name, models[i + 1], kind, ext.params),
            )
        )
    return PipelineView(pipeline, tuple(steps))


DEFAULT_LINK_LIFETIME_S = 24 * 3600
"""D9: without the provider's own expiry, a result link lives 24 h from completion."""


def _expires_at(step: Step) -> float:
    if step.urls_expire_at is not None:
        return step.urls_expire_at
    return (step.completed_at or step.updated_at) + DEFAULT_LINK_LIFETIME_S


def plan_extend(
    view: PipelineView,
    ext: ExtendSpec,
    provider: Provider,
    now: float,
    prices: PriceBook | None = None,
) -> Step:
    """The new step that extends an existing pipeline, priced, or ``PlanRejected`` naming
    the field."""
    steps = view.steps
    parent = len(steps) - 1 if ext.from_ is None else ext.from_
    if not 0 <= parent < len(steps):
        raise PlanRejected(
            [FieldProblem("from", f"no step {parent}; steps are 0..{len(steps) - 1}")]
        )
    source = steps[parent]
    if source.status in (StepStatus.FAILED, StepStatus.CANCELLED):
        raise PlanRejected(
            [FieldProblem("from", f"step {parent} {source.status}; it cannot be extended")]
        )
    if source.status is StepStatus.SUCCEEDED and _expires_at(source) <= now:
        raise PlanRejected(
            [
                FieldProblem(
                    "from",
                    f"step {parent}'s video expired; {provider.name} can no longer extend it",
                )
            ]
        )
    depths = depth([(s.index, None if s.continues else s.parent) for s in steps])
    generation = source
    while generation.kind != "generate" and generation.parent is not None:
        generation = steps[generation.parent]
    model, problems = check_extend(
        provider, generation.model, ext, depths[parent] + 1, field="extend"
    )
    if problems:
        raise PlanRejected(
            [
                FieldProblem(
                    "from" if p.field == "extend" else p.field.removeprefix("extend."), p.message
                )
                for p in problems
            ]
        )
    step = Step(
        pipeline_id=view.pipeline.id,
        index=len(steps),
        provider=view.pipeline.provider,
        kind="generate" if ext.mode == "continue" else "extend",
        parent=parent,
        prompt=ext.prompt,
        model=model,
        params=ext.params,
        provider_options=ext.provider_options,
        status=StepStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    return replace(step, estimate_micros=(prices or PriceBook(DEFAULT_ROWS)).estimate_step(step))


def projected_spend(view: PipelineView, committed: int) -> int | None:
    """What the pipeline will have cost once every unfinished step runs once: ``committed``
    (reserved or charged so far) plus the estimates of the steps not yet submitted. None when
    one of those is unpriced."""
    total = committed
    for step in view.steps:
        if step.status is StepStatus.PENDING and step.billing in (None, Billing.RELEASED):
            if step.estimate_micros is None:
                return None
            total += step.estimate_micros
    return total
