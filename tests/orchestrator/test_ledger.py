"""The ledger on a real SQLite file: every submit reserved, then charged, released, held
uncertain or refunded exactly once, and the budgets' sums moving with it."""

from __future__ import annotations

import sqlite3

import pytest

from orchestrator.domain.ledger import Move, Reserve, day_of, usage_keys
from orchestrator.domain.models import Billing, StepStatus
from orchestrator.engine.perform import Polled
from orchestrator.providers import errors as pe
from orchestrator.settings import Settings
from orchestrator.spending import pipeline_costs
from orchestrator.store import Store, Transaction
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.money_helpers import EXTEND, GENERATE, Rig, book, request


async def sums(store: Store, provider: str, now: float) -> dict[str, int]:
    keys = usage_keys(provider, day_of(now))
    found = await store.budget_usage(keys)
    return {f"{s}/{p}": found[(s, p)].used_micros if (s, p) in found else 0 for s, p in keys}


async def test_a_chain_is_charged_its_estimate_once_per_step(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    view, _ = await rig.ops.create(request(extends=2))
    assert [s.estimate_micros for s in view.steps] == [GENERATE, EXTEND, EXTEND]
    await rig.drive()
    final = await rig.ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.step, e.seq, e.state, e.amount_micros) for e in entries] == [
        (0, 1, Billing.CHARGED, GENERATE),
        (1, 1, Billing.CHARGED, EXTEND),
        (2, 1, Billing.CHARGED, EXTEND),
    ]
    total = GENERATE + 2 * EXTEND
    assert set((await sums(store, "fake", rig.clock())).values()) == {total}
    events = await store.events(view.pipeline.id)
    charged = [e.data for e in events if e.type == "cost.charged"]
    assert [c["usd"] for c in charged] == ["0.20", "0.30", "0.30"]


async def test_a_refused_submit_releases_its_reservation(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A 5xx created no task: its reservation is released, the retry reserves anew."""
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    fake.submit_errors.append(pe.ProviderUnavailable("down", provider="fake"))
    view, _ = await rig.ops.create(request())
    await rig.drive()
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.seq, e.state) for e in entries] == [(1, Billing.RELEASED), (2, Billing.CHARGED)]
    assert set((await sums(store, "fake", rig.clock())).values()) == {GENERATE}
    assert len(fake.submits) == 1


async def test_an_ambiguous_submit_stays_reserved_and_uncertain_until_retried(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    fake.submit_errors.append(pe.OutcomeUnknown("read timeout", provider="fake"))
    view, _ = await rig.ops.create(request())
    await rig.drive(rounds=3)
    held = await rig.ops.get(view.pipeline.id)
    assert held.steps[0].status is StepStatus.AMBIGUOUS
    [entry] = await rig.ledger(view.pipeline.id)
    assert entry.state is Billing.UNCERTAIN
    assert set((await sums(store, "fake", rig.clock())).values()) == {GENERATE}
    rendered = await rig.spending.spend(None, None, "pipeline")
    assert rendered.total.reserved == GENERATE  # counted, never dropped while uncertain
    # The operator's retry is the word that no task exists: released, then charged once.
    await rig.ops.retry(view.pipeline.id, reason="checked with the provider: no task")
    await rig.drive()
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.seq, e.state) for e in entries] == [(1, Billing.RELEASED), (2, Billing.CHARGED)]
    assert set((await sums(store, "fake", rig.clock())).values()) == {GENERATE}


@pytest.mark.parametrize(
    ("refund", "state", "left"), [(False, Billing.CHARGED, GENERATE), (True, Billing.REFUNDED, 0)]
)
async def test_a_failed_task_is_refunded_only_under_the_refund_policy(
    settings: Settings, store: Store, refund: bool, state: Billing, left: int
) -> None:
    fake = FakeProvider(fail_prompts={"a cat"})
    rig = Rig(store, settings, {"fake": fake}, book("fake"), refund=refund)
    view, _ = await rig.ops.create(request())
    await rig.drive()
    [entry] = await rig.ledger(view.pipeline.id)
    assert entry.state is state
    events = [e.type for e in await store.events(view.pipeline.id)]
    assert ("cost.refunded" in events) is refund
    [mine] = (await rig.spending.spend(None, None, "pipeline")).groups
    assert (mine.charged, mine.net) == (GENERATE, left)
    assert set((await sums(store, "fake", rig.clock())).values()) == {left}


async def test_a_cost_the_provider_reports_wins_over_the_estimate(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    fake.cost_micros = 250_000
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    view, _ = await rig.ops.create(request())
    await rig.drive()
    [entry] = await rig.ledger(view.pipeline.id)
    assert (entry.state, entry.estimate_micros, entry.amount_micros) == (
        Billing.CHARGED,
        GENERATE,
        250_000,
    )
    assert set((await sums(store, "fake", rig.clock())).values()) == {250_000}
    charged = [
        e.data["usd"] for e in await store.events(view.pipeline.id) if e.type == "cost.charged"
    ]
    assert charged == ["0.20", "0.25"]  # at the accepted submit, then the provider's figure


async def test_unpriced_steps_are_never_counted_as_zero(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    rig = Rig(store, settings, {"fake": fake}, book("other"))
    view, _ = await rig.ops.create(request(extends=1))
    assert [s.estimate_micros for s in view.steps] == [None, None]
    await rig.drive()
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.state, e.amount_micros) for e in entries] == [(Billing.CHARGED, None)] * 2
    report = await rig.spending.spend(None, None, "provider")
    assert report.total.unpriced_submits == 2
    total, _ = pipeline_costs(await rig.ops.get(view.pipeline.id), entries)
    assert (total.estimated, total.unpriced, total.unpriced_submits) == (None, (0, 1), 2)
    assert report.total.charged == 0
    assert set((await sums(store, "fake", rig.clock())).values()) == {0}


async def test_a_replayed_ledger_move_changes_nothing(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """Two replicas (or a replay) applying the same move: the second finds the row moved."""
    rig = Rig(store, settings, {"fake": fake}, book("fake"), refund=True)
    fake.fail_prompts.add("a cat")
    view, _ = await rig.ops.create(request())
    await rig.drive()
    [entry] = await rig.ledger(view.pipeline.id)
    assert entry.state is Billing.REFUNDED
    before = await sums(store, "fake", rig.clock())
    move = Move(view.pipeline.id, 0, 1, Billing.CHARGED, Billing.REFUNDED)

    async def replay(tx: Transaction) -> None:
        await tx.money.apply([move, move], rig.clock())

    await store.run(replay)
    assert await sums(store, "fake", rig.clock()) == before
    assert before["global/" + day_of(rig.clock())] == 0


async def test_a_reservation_is_written_with_the_claim(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A crash between the claim and the submit leaves the money reserved (and counted)."""
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    view, _ = await rig.ops.create(request())
    rig.clock.advance(1)
    work = await rig.engine.claim()  # committed; the process "dies" before performing it
    assert len(work) == 1
    [entry] = await rig.ledger(view.pipeline.id)
    assert (entry.state, entry.amount_micros) == (Billing.RESERVED, GENERATE)
    assert set((await sums(store, "fake", rig.clock())).values()) == {GENERATE}
    assert fake.submits == []


async def test_reserve_is_one_row_per_submit(settings: Settings, store: Store) -> None:
    """Inserting the same submit's reservation twice is refused by the database."""
    fake = FakeProvider()
    rig = Rig(store, settings, {"fake": fake}, book("fake"))
    view, _ = await rig.ops.create(request())
    rig.clock.advance(1)
    [work] = await rig.engine.claim()

    async def again(tx: Transaction) -> None:
        await tx.money.apply([Reserve(work.step, day_of(rig.clock()))], rig.clock())

    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await store.run(again)
    assert len(await rig.ledger(view.pipeline.id)) == 1


async def test_a_resubmit_after_an_unknown_outcome_keeps_the_first_reservation(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """REELAY_AMBIGUOUS_POLICY=resubmit may pay twice: the first submit stays counted."""
    policy = settings.model_copy(update={"ambiguous_policy": "resubmit"})
    rig = Rig(store, policy, {"fake": fake}, book("fake"))
    fake.submit_errors.append(pe.OutcomeUnknown("read timeout", provider="fake"))
    view, _ = await rig.ops.create(request())
    await rig.drive()
    entries = await rig.ledger(view.pipeline.id)
    assert [(e.seq, e.state) for e in entries] == [(1, Billing.UNCERTAIN), (2, Billing.CHARGED)]
    assert set((await sums(store, "fake", rig.clock())).values()) == {2 * GENERATE}


async def test_a_submit_held_by_a_takeover_stays_reserved_as_uncertain(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """Replica a claims (reserving) and dies before its request is answered; b holds it."""
    clock = Clock()
    a = Rig(store, settings, {"fake": fake}, book("fake"), clock=clock, replica="a")
    b = Rig(store, settings, {"fake": fake}, book("fake"), clock=clock, replica="b")
    view, _ = await a.ops.create(request())
    await a.engine.heartbeat()
    assert len(await a.engine.claim()) == 1
    clock.advance(settings.replica_ttl_s + 1)
    await b.engine.heartbeat()
    assert await b.engine.recover() == 1
    [entry] = await b.ledger(view.pipeline.id)
    assert entry.state is Billing.UNCERTAIN
    assert set((await sums(store, "fake", clock())).values()) == {GENERATE}
    assert (await b.ops.get(view.pipeline.id)).steps[0].billing is Billing.UNCERTAIN


async def test_duplicate_and_late_terminal_news_refund_nothing_twice(
    settings: Settings, store: Store
) -> None:
    """The same failure observed again (a duplicate callback, an overlapping poll) after the
    refund moves no money and tells nothing again."""
    fake = FakeProvider(fail_prompts={"a cat"})
    rig = Rig(store, settings, {"fake": fake}, book("fake"), refund=True)
    view, _ = await rig.ops.create(request())
    await rig.drive()
    step = (await rig.ops.get(view.pipeline.id)).steps[0]
    failed = fake.status_of(fake.tasks[step.provider_task_id or ""])
    before = await sums(store, "fake", rig.clock())
    for _ in range(3):
        await rig.engine.record([Polled(step.key, failed)])
    events = [e.type for e in await store.events(view.pipeline.id)]
    assert events.count("cost.refunded") == 1
    assert await sums(store, "fake", rig.clock()) == before
    [entry] = await rig.ledger(view.pipeline.id)
    assert entry.state is Billing.REFUNDED
