"""Events: numbered per pipeline, ids increasing across pipelines, read by seq or by id."""

from __future__ import annotations

from orchestrator.domain.models import EventDraft, PipelineView
from orchestrator.store import Store, Transaction
from orchestrator.transitions import commit_transition
from tests.store.builders import NOW, change, create, make_view


def _same(view: PipelineView) -> PipelineView:
    return view


async def _two_pipelines_with_events(store: Store) -> None:
    await create(store, make_view("pl_a"), make_view("pl_b"))  # seq 1 each
    await change(
        store,
        "pl_a",
        _same,
        [
            EventDraft("step.submitted", "pl_a", step=0, data={"task": "t-1"}),
            EventDraft("step.running", "pl_a", step=0, data={"progress": 10}),
        ],
        now=NOW + 1,
    )
    await change(store, "pl_b", _same, [EventDraft("pipeline.cancelled", "pl_b")], now=NOW + 2)


async def test_events_are_numbered_per_pipeline(store: Store) -> None:
    """Each pipeline's events count 1, 2, 3...; the pipeline remembers the last number."""
    await _two_pipelines_with_events(store)
    events = await store.events("pl_a")
    assert [(e.seq, e.type, e.step) for e in events] == [
        (1, "pipeline.created", None),
        (2, "step.submitted", 0),
        (3, "step.running", 0),
    ]
    assert events[1].data == {"task": "t-1"}
    assert events[2].created_at == NOW + 1
    assert [e.seq for e in await store.events("pl_b")] == [1, 2]
    view = await store.get("pl_a")
    assert view is not None
    assert view.pipeline.event_seq == 3


async def test_events_after_seq_with_limit(store: Store) -> None:
    """``events`` starts after a seq and stops at the limit."""
    await _two_pipelines_with_events(store)
    assert [e.seq for e in await store.events("pl_a", after_seq=1)] == [2, 3]
    assert [e.seq for e in await store.events("pl_a", after_seq=1, limit=1)] == [2]
    assert await store.events("pl_nope") == []


async def test_event_ids_increase_across_pipelines(store: Store) -> None:
    """Ids follow the order events were written, across pipelines; they are the live cursor."""
    assert await store.last_event_id() == 0
    assert await store.events_after(0) == []
    await _two_pipelines_with_events(store)
    everything = await store.events_after(0)
    ids = [e.id for e in everything]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert [(e.pipeline_id, e.seq) for e in everything] == [
        ("pl_a", 1),
        ("pl_b", 1),
        ("pl_a", 2),
        ("pl_a", 3),
        ("pl_b", 2),
    ]
    assert await store.last_event_id() == ids[-1]
    assert [e.seq for e in await store.events_after(ids[1])] == [2, 3, 2]
    assert [e.seq for e in await store.events_after(ids[1], limit=2)] == [2, 3]
    only_b = await store.events_after(0, pipeline_id="pl_b")
    assert [(e.pipeline_id, e.seq) for e in only_b] == [("pl_b", 1), ("pl_b", 2)]


async def test_events_of_one_transaction_follow_each_other(store: Store) -> None:
    """Events saved together for several pipelines keep their order and numbering."""
    await create(store, make_view("pl_a"), make_view("pl_b"))
    last = await store.last_event_id()

    async def job(tx: Transaction) -> int:
        views = await tx.pipelines.load(["pl_a", "pl_b"])
        events = [
            EventDraft("x", "pl_b"),
            EventDraft("y", "pl_a"),
            EventDraft("z", "pl_b"),
        ]
        return len(
            (await commit_transition(tx, [(v, v) for v in views.values()], NOW, events)).events
        )

    assert await store.run(job) == 3
    tail = await store.events_after(last)
    assert [(e.type, e.pipeline_id, e.seq) for e in tail] == [
        ("x", "pl_b", 2),
        ("y", "pl_a", 2),
        ("z", "pl_b", 3),
    ]
