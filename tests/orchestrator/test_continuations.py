"""Continuations and target lengths, as planned: which steps a request makes, and what is
refused (each refusal naming its field). Pure: nothing is sent or stored."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain import pipelines as pipeline_rules
from orchestrator.domain.media import planned_seconds
from orchestrator.domain.models import PipelineView, StepStatus
from orchestrator.plans import PipelineRequest, PlanRejected, plan, plan_extend
from orchestrator.providers.base import Provider
from orchestrator.providers.registry import build_providers
from orchestrator.settings import Settings

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def providers() -> dict[str, Provider]:
    """The four real adapters (their clients are never used: nothing is sent)."""
    found, _clients = build_providers(Settings(_env_file=None).providers())  # type: ignore[call-arg]
    return found


def planned(providers: dict[str, Provider], **body: Any) -> PipelineView:
    request = PipelineRequest.model_validate({"prompt": "a lighthouse", **body})
    return plan(request, providers, pipeline_id="pl_test", now=NOW)


def refusal(providers: dict[str, Provider], **body: Any) -> dict[str, str]:
    with pytest.raises(PlanRejected) as caught:
        planned(providers, **body)
    return {p.field: p.message for p in caught.value.problems}


def shape(view: PipelineView) -> list[tuple[str | None, int | None]]:
    return [(s.mode, s.parent) for s in view.steps]


def test_a_continuation_is_a_new_generation_from_its_parent(
    providers: dict[str, Provider],
) -> None:
    view = planned(
        providers,
        provider="apixo",
        extends=[{"prompt": "on"}, {"prompt": "further", "mode": "continue"}],
    )
    assert shape(view) == [(None, None), ("extend", 0), ("continue", 1)]
    continuation = view.steps[2]
    assert continuation.kind == "generate"
    assert continuation.continues
    assert continuation.model == view.steps[0].model
    assert continuation.estimate_micros == view.steps[0].estimate_micros  # priced as a generate


def test_a_continuation_starts_a_new_chain_so_the_depth_limit_starts_over(
    providers: dict[str, Provider],
) -> None:
    """apixo extends only a base: after a continuation it can extend again."""
    view = planned(
        providers,
        provider="apixo",
        extends=[
            {"prompt": "1"},
            {"prompt": "2", "mode": "continue"},
            {"prompt": "3"},
        ],
    )
    assert shape(view) == [(None, None), ("extend", 0), ("continue", 1), ("extend", 2)]
    problems = refusal(providers, provider="apixo", extends=[{"prompt": "1"}, {"prompt": "2"}])
    assert "depth 2 exceeds apixo's limit of 1" in problems["extends[1]"]


def test_a_provider_without_image_to_video_cannot_continue(
    providers: dict[str, Provider],
) -> None:
    problems = refusal(providers, provider="apifree", extends=[{"prompt": "x", "mode": "continue"}])
    assert "apifree cannot start a generation from a picture" in problems["extends[0].mode"]


def test_reelay_sets_a_continuations_first_frame(providers: dict[str, Provider]) -> None:
    problems = refusal(
        providers,
        provider="apixo",
        extends=[{"prompt": "x", "mode": "continue", "params": {"first_frame_url": "https://x/y"}}],
    )
    assert "reelay sets this" in problems["extends[0].params.first_frame_url"]


def test_an_added_continuation_is_planned_like_one_in_the_request(
    providers: dict[str, Provider],
) -> None:
    from orchestrator.plans import ExtendSpec

    view = planned(providers, provider="apixo", extends=[{"prompt": "on"}])
    ext = ExtendSpec.model_validate({"prompt": "more", "mode": "continue", "from": 1})
    step = plan_extend(view, ext, providers["apixo"], NOW)
    assert (step.kind, step.parent, step.mode) == ("generate", 1, "continue")
    grown = PipelineView(view.pipeline, (*view.steps, step))
    again = ExtendSpec.model_validate({"prompt": "and on", "from": 2})
    assert plan_extend(grown, again, providers["apixo"], NOW).kind == "extend"


@pytest.mark.parametrize(
    ("provider", "target", "modes", "seconds"),
    [
        # apixo: one extend per chain, then a continuation.
        ("apixo", 30, ["extend", "continue", "extend"], 30.0),
        ("apixo", 8, [], 8.0),
        # apimart's depth is 20: extends alone reach 60 s.
        ("apimart", 60, ["extend"] * 8, 64.0),
    ],
)
def test_target_seconds_plans_extends_then_continuations(
    providers: dict[str, Provider],
    provider: str,
    target: int,
    modes: list[str],
    seconds: float,
) -> None:
    view = planned(providers, provider=provider, target_seconds=target)
    assert [s.mode for s in view.steps[1:]] == modes
    assert [s.parent for s in view.steps[1:]] == list(range(len(modes)))
    assert max(planned_seconds(view).values()) == seconds >= target


def test_a_target_beyond_what_a_provider_can_reach_is_refused(
    providers: dict[str, Provider],
) -> None:
    problems = refusal(providers, provider="apifree", target_seconds=200)
    assert "apifree reaches at most 148 s" in problems["target_seconds"]
    problems = refusal(providers, provider="apixo", target_seconds=20, extends=[{"prompt": "x"}])
    assert "not both" in problems["target_seconds"]


def test_a_continuation_waits_for_its_first_frame_after_its_parent_succeeds(
    providers: dict[str, Provider],
) -> None:
    from dataclasses import replace

    view = planned(providers, provider="apixo", extends=[{"prompt": "x", "mode": "continue"}])
    done = replace(view.steps[0], status=StepStatus.SUCCEEDED)
    settled = pipeline_rules.settle(PipelineView(view.pipeline, (done, view.steps[1])), NOW)
    assert settled.steps[1].next_at is None  # no frame yet: not due
    framed = replace(settled.steps[1], first_frame="ab/" + "ab" * 32 + ".png")
    ready = pipeline_rules.settle(PipelineView(view.pipeline, (done, framed)), NOW)
    assert ready.steps[1].next_at == NOW
