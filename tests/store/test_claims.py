"""Claiming work: due submits and polls in due order, poll leases, in-flight counts."""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain.models import StepStatus
from orchestrator.store import Store, Transaction, open_store
from orchestrator.store import queries as q
from tests.store import sql
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
    assert await store.run(lambda tx: tx.claims.due_submits("fake", NOW, 10)) == [
        ("pl_b", 0),
        ("pl_a", 0),
    ]
    assert await store.run(lambda tx: tx.claims.due_submits("fake", NOW, 1)) == [("pl_b", 0)]
    assert await store.run(lambda tx: tx.claims.due_submits("other", NOW, 10)) == [("pl_e", 0)]
    assert await store.run(lambda tx: tx.claims.due_submits("fake", NOW - 100, 10)) == []


async def _lease(store: Store, now: float, limit: int, lease: float) -> list[tuple[str, int]]:
    async def job(tx: Transaction) -> list[tuple[str, int]]:
        keys = await tx.claims.due_polls("fake", now, limit)
        await tx.pipelines.lock_pipelines({p for p, _ in keys})
        await tx.claims.lease_polls(dict.fromkeys(keys, lease))
        return keys

    return await store.run(job)


async def test_due_polls_are_leased(store: Store) -> None:
    """Due polls come earliest first and are pushed to the lease time: not due again before."""
    await _steps(store)
    lease = NOW + 30
    assert await _lease(store, NOW, 10, lease) == [("pl_f", 0), ("pl_g", 0)]
    assert await _lease(store, NOW, 10, lease) == []
    view = await store.get("pl_f")
    assert view is not None
    assert view.steps[0].next_at == lease
    assert await _lease(store, lease, 1, lease + 30) == [("pl_h", 0)]


async def test_release_polls_makes_in_flight_steps_due_now(store: Store) -> None:
    """Released leases are due at once; a step no longer in flight keeps its time."""
    await _steps(store)
    await _lease(store, NOW, 10, NOW + 30)
    await store.run(
        lambda tx: tx.claims.release_polls([("pl_f", 0), ("pl_j", 0), ("pl_x", 0)], NOW + 1)
    )
    await store.run(lambda tx: tx.claims.release_polls([], NOW + 1))
    f, j = await store.get("pl_f"), await store.get("pl_j")
    assert f is not None
    assert j is not None
    assert (f.steps[0].next_at, j.steps[0].next_at) == (NOW + 1, None)


async def test_in_flight_counts_per_provider(store: Store) -> None:
    """Submitting, submitted and running steps count as in flight, per provider, up to the
    limit asked (the claim compares it with max_in_flight; past it the count is moot)."""
    await _steps(store)

    async def job(tx: Transaction) -> tuple[int, int, int]:
        await tx.claims.lock_provider("fake")
        fake, other = tx.claims.in_flight_of("fake", 100), tx.claims.in_flight_of("other", 100)
        return await fake, await other, await tx.claims.in_flight_of("fake", 3)

    assert await store.run(job) == (4, 0, 3)


async def test_tasks_in_flight_by_provider(store: Store) -> None:
    """The providers report counts tasks submitted or running (not a submit still being
    sent), per provider; a provider with none is absent."""
    await _steps(store)
    await create(
        store,
        with_step(make_view("pl_k", provider="other"), 0, status=S.RUNNING, provider_task_id="k"),
    )
    assert await store.in_flight_by_provider() == {"fake": 3, "other": 1}


async def test_tasks_in_flight_are_counted_from_the_index(tmp_path: Path) -> None:
    """On SQLite the count reads only the (status, provider) index, never the steps."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    await (await open_store(url)).close()
    plan = await sql.rows(url, "EXPLAIN QUERY PLAN " + q.IN_FLIGHT_BY_PROVIDER)
    assert any("COVERING INDEX steps_by_status_provider" in row["detail"] for row in plan), plan


async def test_orphaned_submits_are_those_of_silent_replicas(store: Store) -> None:
    """A submit in flight is orphaned when its replica's heartbeat is older than the cutoff
    (or it names no replica); a replica's own submits never are."""
    await create(
        store,
        with_step(make_view("pl_a"), 0, status=S.SUBMITTING, claimed_by="alive"),
        with_step(make_view("pl_b"), 0, status=S.SUBMITTING, claimed_by="dead"),
        with_step(make_view("pl_c"), 0, status=S.SUBMITTING, claimed_by="me"),
        with_step(make_view("pl_d"), 0, status=S.SUBMITTING),
        with_step(make_view("pl_e"), 0, status=S.SUBMITTED, claimed_by="dead"),
    )
    await store.run(lambda tx: tx.replicas.heartbeat("dead", NOW - 60, NOW - 86_400))
    await store.run(lambda tx: tx.replicas.heartbeat("alive", NOW - 1, NOW - 86_400))
    orphans = await store.run(lambda tx: tx.claims.orphaned_submits("me", NOW - 30))
    assert sorted(orphans, key=str) == [("pl_b", 0, "dead"), ("pl_d", 0, None)]
    # At a start on a database nobody else writes, every other replica counts as gone.
    everyone = await store.run(lambda tx: tx.claims.orphaned_submits("me", float("inf")))
    assert sorted(p for p, _, _ in everyone) == ["pl_a", "pl_b", "pl_d"]
    await store.run(lambda tx: tx.replicas.leave("alive"))
    orphans = await store.run(lambda tx: tx.claims.orphaned_submits("me", NOW - 30))
    assert sorted(p for p, _, _ in orphans) == ["pl_a", "pl_b", "pl_d"]


async def test_replicas_long_silent_are_forgotten_once_nothing_is_theirs(
    store: Store, store_url: str
) -> None:
    await create(store, with_step(make_view("pl_a"), 0, status=S.SUBMITTING, claimed_by="old"))
    await store.run(lambda tx: tx.replicas.heartbeat("old", NOW - 100_000, NOW - 200_000))
    await store.run(lambda tx: tx.replicas.heartbeat("gone", NOW - 100_000, NOW - 200_000))
    await store.run(lambda tx: tx.replicas.heartbeat("me", NOW, NOW - 86_400))
    names = {r["id"] for r in await sql.rows(store_url, "SELECT id FROM replicas")}
    assert names == {"old", "me"}  # "old" still has a submit in flight


async def test_step_by_task(store: Store) -> None:
    """A provider's task id leads to its step; another provider's does not."""
    await _steps(store)
    assert await store.run(lambda tx: tx.callbacks.step_by_task("fake", "t-g")) == ("pl_g", 0)
    assert await store.run(lambda tx: tx.callbacks.step_by_task("other", "t-g")) is None
    assert await store.run(lambda tx: tx.callbacks.step_by_task("fake", "t-zzz")) is None


async def test_next_due(store: Store) -> None:
    """The earliest time any pending or in-flight step needs attention; None when nothing."""
    assert await store.next_due() is None
    await _steps(store)
    assert await store.next_due() == NOW - 9
