"""Claiming work: due submits and polls in due order, poll leases, in-flight counts."""

from __future__ import annotations

from orchestrator.models import StepStatus
from orchestrator.store import Store, Transaction
from tests.store.builders import NOW, create, make_view, with_step

S = StepStatus


async def _steps(store: Store) -> None:
    await create(
        store,
        with_step(make_view("pl_a"), 0, next_at=NOW - 1),
        with_step(make_view("pl_b"), 0, next_at=NOW - 5),
        with_step(make_view("pl_c"), 0, next_at=NOW + 10),
        make_view("pl_d"),  # pending without a time: waits for its parent
        with_step(make_view("pl_e", provider="other"), 0, next_at=NOW - 9),
        with_step(
            make_view("pl_f", 2), 0, status=S.RUNNING, provider_task_id="t-f", next_at=NOW - 3
        ),
        with_step(make_view("pl_g"), 0, status=S.SUBMITTED, provider_task_id="t-g", next_at=NOW),
        with_step(make_view("pl_h"), 0, status=S.RUNNING, provider_task_id="t-h", next_at=NOW + 1),
        with_step(make_view("pl_i"), 0, status=S.SUBMITTING, attempts=1),
        with_step(make_view("pl_j"), 0, status=S.SUCCEEDED, provider_task_id="t-j"),
    )


async def test_due_submits_in_due_order(store: Store) -> None:
    """Pending steps of the provider whose time has come, earliest first, up to the limit."""
    await _steps(store)
    assert await store.run(lambda tx: tx.due_submits("fake", NOW, 10)) == [
        ("pl_b", 0),
        ("pl_a", 0),
    ]
    assert await store.run(lambda tx: tx.due_submits("fake", NOW, 1)) == [("pl_b", 0)]
    assert await store.run(lambda tx: tx.due_submits("other", NOW, 10)) == [("pl_e", 0)]
    assert await store.run(lambda tx: tx.due_submits("fake", NOW - 100, 10)) == []


async def test_due_polls_are_leased(store: Store) -> None:
    """Due polls come earliest first and are pushed to the lease time: not due again before."""
    await _steps(store)
    lease = NOW + 30
    assert await store.run(lambda tx: tx.due_polls("fake", NOW, 10, lease)) == [
        ("pl_f", 0),
        ("pl_g", 0),
    ]
    assert await store.run(lambda tx: tx.due_polls("fake", NOW, 10, lease)) == []
    view = await store.get("pl_f")
    assert view is not None
    assert view.steps[0].next_at == lease
    later = await store.run(lambda tx: tx.due_polls("fake", lease, 1, lease + 30))
    assert later == [("pl_h", 0)]


async def test_release_polls_makes_in_flight_steps_due_now(store: Store) -> None:
    """Released leases are due at once; a step no longer in flight keeps its time."""
    await _steps(store)
    await store.run(lambda tx: tx.due_polls("fake", NOW, 10, NOW + 30))
    await store.run(lambda tx: tx.release_polls([("pl_f", 0), ("pl_j", 0), ("pl_x", 0)], NOW + 1))
    await store.run(lambda tx: tx.release_polls([], NOW + 1))
    f, j = await store.get("pl_f"), await store.get("pl_j")
    assert f is not None
    assert j is not None
    assert (f.steps[0].next_at, j.steps[0].next_at) == (NOW + 1, None)


async def test_in_flight_and_stuck(store: Store) -> None:
    """In-flight steps are counted per provider; pipelines with a submitting step are listed."""
    await _steps(store)

    async def job(tx: Transaction) -> tuple[dict[str, int], list[str]]:
        return await tx.in_flight_by_provider(), await tx.stuck_submitting()

    assert await store.run(job) == ({"fake": 4}, ["pl_i"])


async def test_step_by_task(store: Store) -> None:
    """A provider's task id leads to its step; another provider's does not."""
    await _steps(store)
    assert await store.run(lambda tx: tx.step_by_task("fake", "t-g")) == ("pl_g", 0)
    assert await store.run(lambda tx: tx.step_by_task("other", "t-g")) is None
    assert await store.run(lambda tx: tx.step_by_task("fake", "t-zzz")) is None


async def test_next_due(store: Store) -> None:
    """The earliest time any pending or in-flight step needs attention; None when nothing."""
    assert await store.next_due() is None
    await _steps(store)
    assert await store.next_due() == NOW - 9
