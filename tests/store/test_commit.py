"""Group commit: jobs that arrive together share a transaction, and fail alone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from orchestrator.domain.models import EventDraft, PipelineView
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition
from tests.store.builders import NOW, change, make_view


def _creating(*pipeline_ids: str, then: str = "") -> Callable[[Transaction], Awaitable[int]]:
    """A job that creates pipelines, then fails in Python (``raise``) or in SQL (``dup``: a
    second ``pl_0``)."""

    async def job(tx: Transaction) -> int:
        views = [make_view(p) for p in pipeline_ids]
        written = len((await commit_transition(tx, [(None, v) for v in views], NOW)).events)
        if then == "raise":
            raise RuntimeError("job failed")
        if then == "dup":
            await commit_transition(tx, [(None, make_view("pl_0"))], NOW)
        return written

    return job


async def test_a_failing_job_rolls_back_alone(store: Store) -> None:
    """Jobs that fail leave no trace; the others commit: on SQLite together, in one
    transaction; on PostgreSQL (shared by replicas) each in its own."""
    # Made before, so that the duplicate fails whichever job PostgreSQL runs first.
    await store.run(_creating("pl_0"))
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(1))
    results = await asyncio.gather(
        store.run(_creating("pl_a")),
        store.run(_creating("pl_b", then="raise")),
        store.run(_creating("pl_c", then="dup")),  # violates pl_0's primary key
        store.run(_creating("pl_d", "pl_e")),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], Exception)
    assert results[3] == 2
    assert commits == ([1, 1] if store.shared else [1])
    listed = [v.pipeline.id for v in await store.list_pipelines()]
    assert listed == ["pl_e", "pl_d", "pl_a", "pl_0"]
    events = [e.pipeline_id for e in await store.events_after(0)]
    assert sorted(events) == ["pl_0", "pl_a", "pl_d", "pl_e"]


async def test_commit_listeners(store: Store) -> None:
    """Listeners run after each commit that appended events, until removed."""
    commits: list[int] = []

    def listener() -> None:
        commits.append(1)

    store.add_commit_listener(listener)
    await store.run(_creating("pl_a"))
    await store.run(lambda tx: tx.replicas.secret("s", "v", NOW))  # no events: nobody to wake
    store.remove_commit_listener(listener)
    await store.run(_creating("pl_b"))
    assert commits == [1]


async def test_concurrent_changes_number_events_without_gaps(store: Store) -> None:
    """Many concurrent writers of one pipeline: every event gets the next number."""
    await store.run(_creating("pl_a"))

    def same(view: PipelineView) -> PipelineView:
        return view

    await asyncio.gather(
        *(
            change(store, "pl_a", same, [EventDraft("tick", "pl_a", data={"n": n})])
            for n in range(40)
        )
    )
    events = await store.events("pl_a")
    assert [e.seq for e in events] == list(range(1, 42))
    assert sorted(e.data["n"] for e in events[1:]) == list(range(40))


async def test_listeners_ignore_events_of_a_rolled_back_job(store: Store) -> None:
    """Commit listeners fire for committed events only, not for a job that failed and was
    rolled back to its savepoint."""
    fired: list[int] = []
    store.add_commit_listener(lambda: fired.append(1))
    view = make_view("pl_rolled_back")

    async def failing(tx: Transaction) -> None:
        await commit_transition(tx, [(None, view)], 1.0)
        raise RuntimeError("undo me")

    with pytest.raises(RuntimeError):
        await store.run(failing)
    assert fired == []
    assert await store.get("pl_rolled_back") is None
