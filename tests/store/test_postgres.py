"""PostgreSQL only: placeholders, URLs, and several replicas sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from orchestrator.domain import steps as step_rules
from orchestrator.domain.models import EventDraft, PipelineView, StepStatus
from orchestrator.store import Store, Transaction, open_store
from orchestrator.store.postgres import numbered
from orchestrator.transitions import commit_transition
from tests.eventually import eventually
from tests.store import sql
from tests.store.builders import NOW, create, make_view

Keys = list[tuple[str, int]]
Claim = Callable[[Transaction], Awaitable[Keys]]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"),
        ("a = '?' AND b = ?", "a = '?' AND b = $1"),
        ("a = 'it''s ?' AND b = ?", "a = 'it''s ?' AND b = $1"),
        ("a = '' AND b = ?", "a = '' AND b = $1"),
        ('"odd?name" = ?', '"odd?name" = $1'),
        ("a = ? -- why?\n AND b = ?", "a = $1 -- why?\n AND b = $2"),
        ("a = ? /* ? */ AND b = ?", "a = $1 /* ? */ AND b = $2"),
    ],
)
def test_placeholders_are_numbered_outside_quotes(sql: str, expected: str) -> None:
    """``?`` becomes ``$n`` in order, except inside literals, quoted names and comments."""
    assert numbered(sql) == expected


async def test_unknown_scheme_names_both_forms() -> None:
    """An unsupported URL says which forms are supported."""
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://"):
        await open_store("mysql://localhost/reelay")


@pytest.mark.postgres
async def test_postgres_scheme_alias(pg_url: str) -> None:
    """``postgres://`` opens the same database as ``postgresql://``."""
    store = await open_store("postgres://" + pg_url.removeprefix("postgresql://"))
    try:
        await store.ping()
    finally:
        await store.close()


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Stores opened at the same moment on an empty database apply each migration once."""
    stores = await asyncio.gather(*(open_store(pg_url) for _ in range(4)))
    try:
        rows = await sql.rows(pg_url, "SELECT version FROM schema_migrations ORDER BY version")
        versions = [r["version"] for r in rows]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def _claim_submits(tx: Transaction) -> Keys:
    """What the engine does: pick due submits, hold them a moment, record the claim."""
    keys = await tx.claims.due_submits("fake", NOW, 3)
    await asyncio.sleep(0.002)  # keep the rows locked while the other replica looks
    views = await tx.pipelines.load({p for p, _ in keys}, skip_locked=True)
    keys = [k for k in keys if k[0] in views]
    changes: dict[str, tuple[PipelineView, PipelineView]] = {}
    for pid, idx in keys:
        before, after = changes.get(pid, (views[pid], views[pid]))
        steps = list(after.steps)
        steps[idx] = step_rules.claim_submit(steps[idx], NOW)
        changes[pid] = (before, PipelineView(after.pipeline, tuple(steps)))
    await commit_transition(tx, list(changes.values()), NOW)
    return keys


async def _claim_polls(tx: Transaction) -> Keys:
    keys = await tx.claims.due_polls("fake", NOW, 3)
    await asyncio.sleep(0.002)
    views = await tx.pipelines.load({p for p, _ in keys}, skip_locked=True)
    keys = [k for k in keys if k[0] in views]
    await tx.claims.lease_polls(dict.fromkeys(keys, NOW + 60))
    return keys


async def _race(replicas: list[Store], claim: Claim, expected: set[tuple[str, int]]) -> list[Keys]:
    """Each replica claims until nothing is left; together they claimed each key once."""

    async def replica(store: Store) -> Keys:
        claimed: Keys = []
        while keys := await store.run(claim):
            claimed += keys
        return claimed

    claims = await asyncio.gather(*(replica(s) for s in replicas))
    together = [k for c in claims for k in c]
    assert sorted(together) == sorted(expected)  # every step once: no step claimed twice
    return claims


@pytest.mark.postgres
async def test_two_replicas_never_claim_the_same_step(pg_url: str) -> None:
    """Two stores (two pools) claiming due submits and polls at the same time share them out."""
    replicas = [await open_store(pg_url), await open_store(pg_url)]
    shared = 0
    try:
        for round_ in range(8):
            pids = [f"pl_{round_}_{i:02d}" for i in range(8)]
            views = [make_view(p, 3) for p in pids]
            due = [
                PipelineView(
                    v.pipeline,
                    tuple(replace(s, next_at=NOW - i - j / 10) for j, s in enumerate(v.steps)),
                )
                for i, v in enumerate(views)
            ]
            await create(replicas[round_ % 2], *due)
            keys = {(p, i) for p in pids for i in range(3)}
            claims = await _race(replicas, _claim_submits, keys)
            shared += all(claims)
            for pid in pids:
                view = await replicas[0].get(pid)
                assert view is not None
                assert {(s.status, s.attempts) for s in view.steps} == {(StepStatus.SUBMITTING, 1)}
            await _make_running(replicas[0], pids)
            claims = await _race(replicas, _claim_polls, keys)
            shared += all(claims)
    finally:
        await asyncio.gather(*(s.close() for s in replicas))
    assert shared > 0  # the replicas did compete, not take turns


async def _make_running(store: Store, pids: list[str]) -> None:
    async def job(tx: Transaction) -> None:
        views = await tx.pipelines.load(pids)
        changes = [
            (
                v,
                PipelineView(
                    v.pipeline,
                    tuple(
                        replace(
                            s,
                            status=StepStatus.RUNNING,
                            provider_task_id=f"{s.pipeline_id}/{s.index}",
                            next_at=NOW - 1,
                        )
                        for s in v.steps
                    ),
                ),
            )
            for v in views.values()
        ]
        await commit_transition(tx, changes, NOW)

    await store.run(job)


@pytest.mark.postgres
async def test_a_deadlock_victim_is_run_again(pg_url: str) -> None:
    """Two jobs lock the same pipelines in opposite orders: the server aborts one as a
    deadlock victim, and the store runs that job again; both succeed."""
    store = await open_store(pg_url)
    try:
        await create(store, make_view("pl_1"), make_view("pl_2"))
        runs: list[str] = []
        holds = {"pl_1": asyncio.Event(), "pl_2": asyncio.Event()}

        def locking(first: str, second: str) -> Callable[[Transaction], Awaitable[str]]:
            async def job(tx: Transaction) -> str:
                runs.append(first)
                await tx.pipelines.lock_pipelines([first])
                holds[first].set()
                await holds[second].wait()  # each holds one lock and asks for the other
                await tx.pipelines.lock_pipelines([second])
                return first

            return job

        results = await asyncio.gather(
            store.run(locking("pl_1", "pl_2")), store.run(locking("pl_2", "pl_1"))
        )
        assert sorted(results) == ["pl_1", "pl_2"]
        assert len(runs) == 3  # one of them ran twice
    finally:
        await store.close()


async def lock_waiters(pg_url: str) -> int:
    """Connections of this test's database waiting for a lock."""
    query = (
        "SELECT COUNT(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    [row] = await sql.rows(pg_url, query)
    return int(row["n"])


@pytest.mark.postgres
async def test_event_ids_follow_commit_order(pg_url: str) -> None:
    """A reader that has seen event id N has seen every event numbered below N: a writer that
    appends events while another's are uncommitted waits for that commit (SSE resumes by id)."""
    store = await open_store(pg_url)
    numbered, release = asyncio.Event(), asyncio.Event()
    try:
        await create(store, make_view("pl_a"), make_view("pl_b"))

        def appending(pipeline_id: str) -> Callable[[Transaction], Awaitable[None]]:
            async def job(tx: Transaction) -> None:
                view = (await tx.pipelines.load([pipeline_id]))[pipeline_id]
                await commit_transition(tx, [(view, view)], NOW, [EventDraft("tick", pipeline_id)])
                if pipeline_id == "pl_a":
                    numbered.set()
                    await release.wait()

            return job

        slow = asyncio.create_task(store.run(appending("pl_a")))
        await numbered.wait()  # pl_a's event is numbered, not committed
        fast = asyncio.create_task(store.run(appending("pl_b")))

        async def held_or_done() -> bool:
            return fast.done() or await lock_waiters(pg_url) > 0

        await eventually(held_or_done, what="pl_b's writer to wait or finish")
        assert not fast.done(), "pl_b committed an event while pl_a's lower id was uncommitted"
        before = [e.id for e in await store.events_after(0)]
        release.set()
        await asyncio.gather(slow, fast)
        seen = [e.id for e in await store.events_after(0)]
        assert len(before) == 2  # the two created events only
        assert seen == sorted(seen)
        assert len(seen) == 4  # two created, pl_a's tick (committed first), pl_b's tick
    finally:
        release.set()  # a failed assertion must not leave pl_a's transaction open
        await store.close()


@pytest.mark.postgres
async def test_a_commit_with_events_wakes_the_other_replicas(pg_url: str) -> None:
    """LISTEN/NOTIFY: events committed by one store wake every other store's listener, not
    its own; a transaction with nothing for others (a heartbeat) wakes nobody.

    A listening connection hears notifications in commit order, so once a store has heard a
    later commit, it has heard every earlier one too: counting wake-ups needs no waiting."""
    one, two = await open_store(pg_url), await open_store(pg_url)
    try:
        wakes = {"one": 0, "two": 0}

        def waking(name: str) -> Callable[[], None]:
            def woken() -> None:
                wakes[name] += 1

            return woken

        await one.listen(waking("one"))
        await two.listen(waking("two"))
        await eventually(lambda: wakes["one"] and wakes["two"], what="both listening")
        wakes.update(one=0, two=0)  # each says it listens with a first wake-up
        await one.run(lambda tx: tx.replicas.heartbeat("r1", NOW, NOW - 86_400))
        await create(one, make_view("pl_a"))
        await eventually(lambda: wakes["two"] > 0, what="two to hear one's events")
        assert wakes["two"] == 1  # the events; the heartbeat before them woke nobody
        await create(two, make_view("pl_b"))
        await eventually(lambda: wakes["one"] > 0, what="one to hear two's events")
        assert wakes["one"] == 1  # two's events, not its own earlier ones
    finally:
        await one.close()
        await two.close()
