"""From a pipeline request to a validated, not-yet-stored pipeline — or every reason it can't be.

Nothing here spends money or touches the store: a refused request leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from orchestrator.domain.models import Pipeline, PipelineStatus, PipelineView, Step, StepStatus
from orchestrator.domain.pipelines import depth
from orchestrator.domain.values import Tier, VideoParams
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
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        return _not_blank(prompt)


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(json_schema_extra={"enum": list(PROVIDER_NAMES)})
    model: str | None = None
    tier: Tier | None = None
    prompt: str = Field(min_length=1, max_length=10_000)
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)
    extends: list[ExtendSpec] = Field(default_factory=list, max_length=100)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        return _not_blank(prompt)

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
    """The extend model for ``ext`` at ``depth``, and every reason it cannot run."""
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


def plan(
    request: PipelineRequest,
    providers: Mapping[str, Provider],
    *,
    pipeline_id: str,
    now: float,
    idempotency_key: str | None = None,
    allow_private_webhooks: bool = False,
) -> PipelineView:
    provider = providers.get(request.provider)
    if provider is None:
        known = ", ".join(sorted(providers))
        raise PlanRejected(
            [FieldProblem("provider", f"unknown provider {request.provider!r}; one of {known}")]
        )
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
    links: list[tuple[int, int | None]] = [(0, None)]
    for i, ext in enumerate(request.extends):
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
    depths = depth(links)
    models: list[str] = [base_model]
    for i, ext in enumerate(request.extends):
        model, found = check_extend(provider, base_model, ext, depths[i + 1], field=f"extends[{i}]")
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
        )
    ]
    for i, ext in enumerate(request.extends):
        steps.append(
            Step(
                pipeline_id=pipeline_id,
                index=i + 1,
                provider=provider.name,
                kind="extend",
                parent=links[i + 1][1],
                prompt=ext.prompt,
                model=models[i + 1],
                params=ext.params,
                provider_options=ext.provider_options,
                status=StepStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
        )
    return PipelineView(pipeline, tuple(steps))


DEFAULT_LINK_LIFETIME_S = 24 * 3600
"""D9: without the provider's own expiry, a result link lives 24 h from completion."""


def _expires_at(step: Step) -> float:
    if step.urls_expire_at is not None:
        return step.urls_expire_at
    return (step.completed_at or step.updated_at) + DEFAULT_LINK_LIFETIME_S


def plan_extend(view: PipelineView, ext: ExtendSpec, provider: Provider, now: float) -> Step:
    """The new step that extends an existing pipeline, or ``PlanRejected`` naming the field."""
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
    depths = depth([(s.index, s.parent) for s in steps])
    model, problems = check_extend(
        provider, steps[0].model, ext, depths[parent] + 1, field="extend"
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
    return Step(
        pipeline_id=view.pipeline.id,
        index=len(steps),
        provider=view.pipeline.provider,
        kind="extend",
        parent=parent,
        prompt=ext.prompt,
        model=model,
        params=ext.params,
        provider_options=ext.provider_options,
        status=StepStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
