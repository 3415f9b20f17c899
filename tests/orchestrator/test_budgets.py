"""Budgets on a real SQLite file, on the test clock: a submit that would pass a cap waits
(pending, its error naming the cap), is told once, and goes on when the cap is raised or its
period rolls over."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from orchestrator.domain.ledger import day_of
from orchestrator.domain.models import StepStatus
from orchestrator.engine.budget import resets_at
from orchestrator.errors import Rejected
from orchestrator.plans import ExtendSpec
from orchestrator.settings import Settings
from orchestrator.store import Store, open_store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.money_helpers import GENERATE, Rig, book, request


def capped(settings: Settings, **caps: str) -> Settings:
    return settings.model_copy(update={k: Decimal(v) for k, v in caps.items()})


async def statuses(rig: Rig, ids: list[str]) -> list[str]:
    return [str((await rig.ops.get(i)).steps[0].status) for i in ids]


async def test_a_daily_cap_sends_exactly_what_fits_and_holds_the_rest(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, capped(settings, budget_usd_per_day="0.40"), {"fake": fake}, book("fake"))
    ids = [(await rig.ops.create(request()))[0].pipeline.id for _ in range(3)]
    await rig.drive(rounds=5)
    assert len(fake.submits) == 2
    waiting = [(await rig.ops.get(i)).steps[0] for i in ids]
    held = [s for s in waiting if s.status is StepStatus.PENDING]
    assert len(held) == 1
    assert held[0].error is not None
    assert held[0].error.code == "BUDGET_EXCEEDED"
    assert "REELAY_BUDGET_USD_PER_DAY" in held[0].error.message
    assert "$0.40" in held[0].error.message
    told = [e for i in ids for e in await store.events(i) if e.type == "budget.exceeded"]
    assert len(told) == 1
    assert told[0].data["cap"] == "REELAY_BUDGET_USD_PER_DAY"
    assert (await rig.ops.get(held[0].pipeline_id)).pipeline.status == "pending"  # not failed


async def test_the_next_day_the_held_submit_goes_on_by_itself(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, capped(settings, budget_usd_per_day="0.20"), {"fake": fake}, book("fake"))
    ids = [(await rig.ops.create(request()))[0].pipeline.id for _ in range(2)]
    await rig.drive(rounds=3)
    assert len(fake.submits) == 1
    rig.clock.now = resets_at("day", rig.clock()) + 1
    await rig.drive(rounds=3)
    assert len(fake.submits) == 2
    assert await statuses(rig, ids) == ["succeeded", "succeeded"]


async def test_raising_the_cap_at_run_time_lets_the_waiting_steps_go(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, capped(settings, budget_usd_per_day="0.20"), {"fake": fake}, book("fake"))
    ids = [(await rig.ops.create(request()))[0].pipeline.id for _ in range(3)]
    await rig.drive(rounds=3)
    assert len(fake.submits) == 1
    budgets = await rig.spending.budgets()
    assert budgets.waiting_steps == 2
    day = next(b for b in budgets.lines if b.scope == "global" and b.period == "day")
    assert (day.cap, day.used, day.remaining, day.source) == (GENERATE, GENERATE, 0, "setting")
    raised = await rig.spending.set_caps("global", {"day": 3 * GENERATE})
    assert raised.waiting_steps == 2  # due now; the engine has not looked yet
    await rig.drive(rounds=3)
    assert len(fake.submits) == 3
    assert await statuses(rig, ids) == ["succeeded"] * 3
    day = next(b for b in (await rig.spending.budgets()).lines if b.period == "day")
    assert (day.used, day.source) == (3 * GENERATE, "runtime")


async def test_a_warning_at_eighty_percent_is_told_once(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, capped(settings, budget_usd_per_month="1.00"), {"fake": fake}, book("fake"))
    ids = [(await rig.ops.create(request()))[0].pipeline.id for _ in range(5)]
    await rig.drive(rounds=4)
    assert len(fake.submits) == 5
    types = [e.type for i in ids for e in await store.events(i)]
    assert types.count("budget.warning") == 1
    assert "budget.exceeded" not in types


async def test_a_provider_cap_holds_only_that_provider(settings: Settings, store: Store) -> None:
    apixo, octopusx = FakeProvider(name="apixo"), FakeProvider(name="octopusx")
    limited = settings.model_copy(
        update={"apixo": settings.apixo.model_copy(update={"budget_usd_per_day": Decimal("0")})}
    )
    fakes = {"apixo": apixo, "octopusx": octopusx}
    rig = Rig(store, limited, fakes, book("apixo", "octopusx"))
    held, _ = await rig.ops.create(request("apixo"))
    await rig.ops.create(request("octopusx"))
    await rig.drive(rounds=3)
    assert apixo.submits == []
    assert len(octopusx.submits) == 1
    step = (await rig.ops.get(held.pipeline.id)).steps[0]
    assert step.error is not None
    assert "REELAY_APIXO_BUDGET_USD_PER_DAY" in step.error.message


async def test_an_unpriced_step_waits_under_a_cap_it_cannot_be_held_to(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, capped(settings, budget_usd_per_day="5"), {"fake": fake}, book("other"))
    view, _ = await rig.ops.create(request())
    await rig.drive(rounds=3)
    step = (await rig.ops.get(view.pipeline.id)).steps[0]
    assert fake.submits == []
    assert step.error is not None
    assert step.error.code == "BUDGET_UNPRICED"
    assert "has no price" in step.error.message


async def test_a_pipeline_budget_refuses_a_create_and_an_extend_that_would_pass_it(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    with pytest.raises(Rejected) as refused:
        await rig.ops.create(request(extends=1, budget_usd="0.49"))
    assert refused.value.problems[0].field == "budget_usd"
    assert "$0.50" in refused.value.problems[0].message
    view, _ = await rig.ops.create(request(extends=1, budget_usd="0.50"))
    assert view.pipeline.budget_micros == 500_000
    with pytest.raises(Rejected) as refused:
        await rig.ops.add_extend(view.pipeline.id, ExtendSpec(prompt="more"))
    assert refused.value.problems[0].field == "budget_usd"
    await rig.drive()
    assert (await rig.ops.get(view.pipeline.id)).pipeline.status == "succeeded"


async def test_a_pipeline_budget_needs_every_step_priced(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, settings, {"fake": fake}, book("other"))
    with pytest.raises(Rejected) as refused:
        await rig.ops.create(request(budget_usd="10"))
    assert refused.value.problems[0].field == "budget_usd"
    assert "no price" in refused.value.problems[0].message


async def test_many_concurrent_submits_against_a_cap_send_exactly_what_it_allows(
    settings: Settings, store: Store
) -> None:
    """1,000 pipelines due at once, a cap of 37 generations: exactly 37 are sent."""
    fake = FakeProvider()
    cap = Decimal(37 * GENERATE) / 1_000_000
    rig = Rig(store, capped(settings, budget_usd_per_day=str(cap)), {"fake": fake}, book("fake"))
    for _ in range(1000):
        await rig.ops.create(request())
    await rig.drive(rounds=20)  # each round looks at one request window (64) of them
    assert len(fake.submits) == 37
    usage = await store.budget_usage([("global", day_of(rig.clock()))])
    assert usage[("global", day_of(rig.clock()))].used_micros == 37 * GENERATE
    assert (await rig.spending.budgets()).waiting_steps == 1000 - 37


@pytest.mark.postgres
async def test_two_postgres_replicas_racing_for_a_cap_send_exactly_what_it_allows(
    pg_url: str, settings: Settings
) -> None:
    """Two replicas (two pools) claiming at the same moment: the cap is shared exactly."""
    fake = FakeProvider()
    stores = [await open_store(pg_url), await open_store(pg_url)]
    try:
        cap = str(Decimal(23 * GENERATE) / 1_000_000)
        limited = capped(settings, budget_usd_per_day=cap)
        clock = Clock()
        rigs = [
            Rig(s, limited, {"fake": fake}, book("fake"), clock=clock, replica=name)
            for s, name in zip(stores, ("a", "b"), strict=True)
        ]
        await asyncio.gather(*(rigs[i % 2].ops.create(request()) for i in range(200)))
        for _ in range(12):
            clock.advance(60)
            await asyncio.gather(*(r.engine.run_once() for r in rigs))
        assert len(fake.submits) == 23
        key = ("global", day_of(clock()))
        assert (await stores[0].budget_usage([key]))[key].used_micros == 23 * GENERATE
        assert (await rigs[0].spending.budgets()).waiting_steps == 200 - 23
        report = await rigs[1].spending.spend(None, None, "provider")
        assert (report.total.submits, report.total.charged) == (23, 23 * GENERATE)
        totals = await stores[1].spend_totals()
        assert sum(int(r["amount"]) for r in totals if r["state"] == "charged") == 23 * GENERATE
    finally:
        await asyncio.gather(*(s.close() for s in stores))
