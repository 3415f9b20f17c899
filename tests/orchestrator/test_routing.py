"""Routing a pipeline's base generation across providers: the cheapest healthy one that can
serve the whole request, and the next one when the base is refused before any task exists."""

from __future__ import annotations

import pytest

from orchestrator.domain.models import Billing
from orchestrator.domain.prices import PriceBook
from orchestrator.errors import Rejected
from orchestrator.plans import PipelineRequest
from orchestrator.providers import errors as pe
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.fakes import FakeProvider
from tests.orchestrator.money_helpers import Rig, book, request


def two() -> dict[str, FakeProvider]:
    return {"dear": FakeProvider(name="dear"), "cheap": FakeProvider(name="cheap")}


def prices() -> PriceBook:
    dear = book("dear", generate=300_000, extend=300_000)
    cheap = book("cheap", generate=200_000, extend=200_000)
    return PriceBook((*dear.rows, *cheap.rows))


async def routed(store: Store, pipeline_id: str) -> list[dict[str, object]]:
    return [e.data for e in await store.events(pipeline_id) if e.type == "step.routed"]


async def test_the_cheapest_provider_that_can_serve_it_all_is_chosen(
    settings: Settings, store: Store
) -> None:
    fakes = two()
    rig = Rig(store, settings, fakes, prices())
    view, _ = await rig.ops.create(request(providers=["dear", "cheap"], extends=1))
    assert view.pipeline.provider == "cheap"
    assert {s.provider for s in view.steps} == {"cheap"}
    routing = view.pipeline.routing
    assert routing is not None
    assert [(r.provider, r.estimate_micros) for r in routing.routes] == [
        ("cheap", 400_000),
        ("dear", 600_000),
    ]
    [event] = await routed(store, view.pipeline.id)
    assert event["provider"] == "cheap"
    assert "cheapest healthy" in str(event["reason"])
    await rig.drive()
    assert len(fakes["cheap"].submits) == 2
    assert fakes["dear"].submits == []


async def test_a_provider_that_cannot_serve_the_request_is_skipped_with_the_reason(
    settings: Settings, store: Store
) -> None:
    fakes = two()
    fakes["cheap"].max_extend_depth = 1
    rig = Rig(store, settings, fakes, prices())
    body = request(providers=["cheap", "dear"], extends=2)  # a chain of depth 2
    view, _ = await rig.ops.create(body)
    assert view.pipeline.provider == "dear"
    assert view.pipeline.routing is not None
    assert "exceeds cheap's limit of 1" in view.pipeline.routing.skipped["cheap"]
    fakes["dear"].max_extend_depth = 1
    with pytest.raises(Rejected) as refused:
        await rig.ops.create(body)
    assert refused.value.problems[0].field == "providers"
    assert "no provider can serve this request" in refused.value.problems[0].message


async def test_a_base_refused_with_402_moves_to_the_next_provider(
    settings: Settings, store: Store
) -> None:
    fakes = two()
    fakes["cheap"].submit_errors.append(pe.InsufficientBalance("top up", provider="cheap"))
    rig = Rig(store, settings, fakes, prices())
    view, _ = await rig.ops.create(request(providers=["dear", "cheap"], extends=1))
    await rig.drive()
    final = await rig.ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert final.pipeline.provider == "dear"
    assert [s.provider for s in final.steps] == ["dear", "dear"]  # the extend follows its base
    assert fakes["cheap"].submits == []
    assert len(fakes["dear"].submits) == 2
    moves = await routed(store, view.pipeline.id)
    assert [m["provider"] for m in moves] == ["cheap", "dear"]
    assert "refused the submit before any task existed" in str(moves[1]["reason"])
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.step, e.provider, e.state, e.amount_micros) for e in entries] == [
        (0, "cheap", Billing.RELEASED, 200_000),
        (0, "dear", Billing.CHARGED, 300_000),
        (1, "dear", Billing.CHARGED, 300_000),
    ]
    assert final.pipeline.routing is not None
    assert [d.provider for d in final.pipeline.routing.decisions] == ["cheap", "dear"]


async def test_a_429_storm_moves_the_base_but_a_single_5xx_does_not(
    settings: Settings, store: Store
) -> None:
    fakes = two()
    fakes["cheap"].submit_errors.append(
        pe.RateLimited("slow down", provider="cheap", retry_after=120)
    )
    rig = Rig(store, settings, fakes, prices())
    stormed, _ = await rig.ops.create(request(providers=["dear", "cheap"]))
    await rig.drive(rounds=1)
    assert (await rig.ops.get(stormed.pipeline.id)).pipeline.provider == "dear"

    calm = two()
    calm["cheap"].submit_errors.append(pe.ProviderUnavailable("502", provider="cheap"))
    rig = Rig(store, settings, calm, prices())
    kept, _ = await rig.ops.create(request(providers=["dear", "cheap"]))
    await rig.drive()
    final = await rig.ops.get(kept.pipeline.id)
    assert (final.pipeline.provider, final.pipeline.status) == ("cheap", "succeeded")
    assert len(await routed(store, kept.pipeline.id)) == 1


async def test_a_paused_provider_is_passed_over_at_creation(
    settings: Settings, store: Store
) -> None:
    fakes = two()
    rig = Rig(store, settings, fakes, prices())
    fakes["cheap"].submit_errors.append(pe.InsufficientBalance("top up", provider="cheap"))
    first, _ = await rig.ops.create(request("cheap"))
    await rig.drive(rounds=1)  # cheap answers 402: its submissions are paused
    view, _ = await rig.ops.create(request("auto"))
    assert view.pipeline.provider == "dear"
    [event] = await routed(store, view.pipeline.id)
    assert "cheapest healthy of dear" in str(event["reason"])
    assert "cheap $0.20 (degraded" in str(event["reason"])
    assert first.pipeline.provider == "cheap"


async def test_a_step_with_a_task_never_moves(settings: Settings, store: Store) -> None:
    """Once the base has a task, a refused extend stays where its source lives."""
    fakes = two()
    rig = Rig(store, settings, fakes, prices())
    view, _ = await rig.ops.create(request(providers=["dear", "cheap"], extends=1))
    await rig.drive(rounds=2)
    fakes["cheap"].submit_errors.append(pe.InsufficientBalance("top up", provider="cheap"))
    await rig.drive()
    final = await rig.ops.get(view.pipeline.id)
    assert [s.provider for s in final.steps] == ["cheap", "cheap"]
    assert len(await routed(store, view.pipeline.id)) == 1


async def test_provider_and_providers_are_one_or_the_other(
    settings: Settings, store: Store
) -> None:
    rig = Rig(store, settings, two(), prices())
    for body in (
        {"prompt": "x"},
        {"prompt": "x", "provider": "dear", "providers": ["cheap"]},
    ):
        with pytest.raises(Rejected) as refused:
            await rig.ops.create(PipelineRequest.model_validate(body))
        assert refused.value.problems[0].field == "provider"
    with pytest.raises(Rejected) as refused:
        await rig.ops.create(request(providers=["cheap", "nope"]))
    assert refused.value.problems[0].field == "providers"
