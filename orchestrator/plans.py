"""From a pipeline request to a validated, not-yet-stored pipeline — or every reason it can't be.

Nothing here spends money or touches the store: a refused request leaves no trace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.models import Pipeline, PipelineStatus, PipelineView, Step, StepStatus
from orchestrator.pipelines import depth
from orchestrator.providers.base import Provider, Tier, VideoParams
from orchestrator.providers.errors import InvalidRequest


class ExtendSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(min_length=1, max_length=10_000)
    from_: int | None = Field(
        default=None, alias="from", description="Step to continue; default the step before"
    )
    model: str | None = Field(default=None, description="Extend model; default per provider")
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str | None = None
    tier: Tier | None = None
    prompt: str = Field(min_length=1, max_length=10_000)
    params: VideoParams = VideoParams()
    provider_options: dict[str, Any] = Field(default_factory=dict)
    extends: list[ExtendSpec] = Field(default_factory=list, max_length=100)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    metadata: dict[str, Any] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        """Identifies the request's content, for idempotency-key comparison."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


class PlanRejected(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def plan(
    request: PipelineRequest,
    providers: Mapping[str, Provider],
    *,
    pipeline_id: str,
    now: float,
    idempotency_key: str | None = None,
) -> PipelineView:
    provider = providers.get(request.provider)
    if provider is None:
        known = ", ".join(sorted(providers))
        raise PlanRejected(
            [FieldProblem("provider", f"unknown provider {request.provider!r}; one of {known}")]
        )
    problems: list[FieldProblem] = []
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
    limit = provider.capabilities.max_extend_depth
    models: list[str] = [base_model]
    for i, ext in enumerate(request.extends):
        index = i + 1
        if depths[index] > limit:
            problems.append(
                FieldProblem(
                    f"extends[{i}]",
                    f"extend depth {depths[index]} exceeds {provider.name}'s limit of {limit}"
                    + (" (branch from step 0 instead)" if limit == 1 else ""),
                )
            )
        model = ""
        if base_model:
            try:
                model = provider.extend_model(base_model, ext.model)
            except InvalidRequest as exc:
                problems.append(FieldProblem(f"extends[{i}].model", exc.message))
        if model:
            problems += [
                FieldProblem(f"extends[{i}].params.{p.field}", p.message)
                for p in provider.check_params("extend", model, ext.params)
            ]
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
