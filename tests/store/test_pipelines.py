"""Pipelines and steps: migrations, what is saved comes back equal, lookups and listing."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.models import PipelineStatus, PipelineView, StepError, StepStatus
from orchestrator.providers.base import VideoParams
from orchestrator.store import Store, Transaction, open_store
from tests.store.builders import NOW, change, create, make_view, with_step
from tests.store.sql import fetch


async def test_migrate_is_idempotent(store: Store, store_url: str) -> None:
    """Migrating again, or opening the same database again, changes nothing and keeps data."""
    await create(store, make_view("pl_a"))
    await store.migrate()
    await store.migrate()
    again = await open_store(store_url)
    try:
        assert await again.get("pl_a") == await store.get("pl_a")
        rows = await fetch(store_url, "SELECT version FROM schema_migrations ORDER BY version")
        versions = [r["version"] for r in rows]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        await again.close()


def _full_view() -> PipelineView:
    view = make_view(
        "pl_full",
        3,
        status=PipelineStatus.RUNNING,
        metadata={"user": "ana", "tags": ["a", "b"], "n": 1.5, "nested": {"x": None}},
        webhook_url="https://hooks.example/x",
        error=StepError("SOME_CODE", "a message with 'quotes' and ? marks"),
        idempotency_key="key-1",
        request_hash="abc123",
        updated_at=NOW + 0.123456789,
    )
    view = with_step(
        view,
        0,
        status=StepStatus.SUCCEEDED,
        params=VideoParams(
            aspect_ratio="16:9",
            resolution="1080p",
            duration=8,
            seed=4_294_967_295,
            negative_prompt="no cats",
            first_frame_url="https://img.example/1.png",
            generate_audio=True,
        ),
        provider_options={"enhance": True, "weights": [0.25, 0.75], "mode": "fast"},
        provider_task_id="task-0",
        callback_mode=True,
        progress=100,
        video_urls=("https://cdn.example/0.mp4", "https://cdn.example/0b.mp4"),
        urls_expire_at=NOW + 86_400.5,
        attempts=2,
        polls=7,
        poll_failures=1,
        submitted_at=NOW + 1.25,
        completed_at=NOW + 99.75,
    )
    view = with_step(
        view,
        1,
        status=StepStatus.FAILED,
        error=StepError("PROVIDER_FAILED", "unsafe prompt"),
        provider_task_id="task-1",
        progress=40,
    )
    return with_step(view, 2, next_at=NOW + 3.5)


async def test_save_then_get_round_trip(store: Store) -> None:
    """Every field of a pipeline and its steps comes back as it was saved."""
    view = _full_view()
    await create(store, view)
    loaded = await store.get("pl_full")
    assert loaded == PipelineView(replace(view.pipeline, event_seq=1), view.steps)


async def test_load_many_and_unknown(store: Store) -> None:
    """``load`` returns the pipelines that exist, with steps in index order; ``get`` of an
    unknown id is None."""
    await create(store, make_view("pl_a", 2), make_view("pl_b", 12))
    views = await store.run(lambda tx: tx.load(["pl_b", "pl_a", "pl_nope", "pl_a"]))
    assert sorted(views) == ["pl_a", "pl_b"]
    assert [s.index for s in views["pl_b"].steps] == list(range(12))
    assert await store.get("pl_nope") is None


async def test_save_writes_only_what_changed(store: Store) -> None:
    """Saving (before, after) updates the pipeline, changed steps, and inserts new steps."""
    await create(store, make_view("pl_a", 2))

    def edit(view: PipelineView) -> PipelineView:
        view = with_step(view, 1, status=StepStatus.CANCELLED, updated_at=NOW + 5)
        pipeline = replace(view.pipeline, status=PipelineStatus.CANCELLED, updated_at=NOW + 5)
        extra = replace(view.steps[1], index=2, parent=1, status=StepStatus.PENDING)
        return PipelineView(pipeline, (*view.steps, extra))

    after = await change(store, "pl_a", edit)
    assert after.pipeline.status is PipelineStatus.CANCELLED
    assert [s.status for s in after.steps] == [
        StepStatus.PENDING,
        StepStatus.CANCELLED,
        StepStatus.PENDING,
    ]


async def test_by_idempotency_key(store: Store) -> None:
    """A pipeline is found by its idempotency key; an unknown key finds nothing."""
    await create(store, make_view("pl_a", idempotency_key="k1"), make_view("pl_b"))

    async def job(tx: Transaction) -> tuple[str | None, PipelineView | None]:
        found = await tx.by_idempotency_key("k1")
        return (found.pipeline.id if found else None), await tx.by_idempotency_key("k2")

    assert await store.run(job) == ("pl_a", None)


async def test_list_pipelines_filters_and_pages(store: Store) -> None:
    """Newest (greatest id) first; status and provider filter; ``before_id`` pages."""
    await create(
        store,
        make_view("pl_01", provider="a"),
        make_view("pl_02", provider="b", status=PipelineStatus.RUNNING),
        make_view("pl_03", provider="a", status=PipelineStatus.RUNNING),
        make_view("pl_04", provider="b"),
        make_view("pl_05", provider="a"),
    )

    async def ids(
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[str]:
        views = await store.list_pipelines(
            status=status, provider=provider, limit=limit, before_id=before_id
        )
        return [v.pipeline.id for v in views]

    assert await ids() == ["pl_05", "pl_04", "pl_03", "pl_02", "pl_01"]
    assert await ids(status="running") == ["pl_03", "pl_02"]
    assert await ids(provider="a") == ["pl_05", "pl_03", "pl_01"]
    assert await ids(provider="a", status="pending") == ["pl_05", "pl_01"]
    assert await ids(limit=2) == ["pl_05", "pl_04"]
    assert await ids(limit=2, before_id="pl_04") == ["pl_03", "pl_02"]
    assert await ids(provider="b", before_id="pl_02") == []
    listed = await store.list_pipelines(limit=1)
    assert listed[0] == await store.get("pl_05")


async def test_count_steps_by_status_and_ping(store: Store) -> None:
    """Steps are counted per status; ``ping`` answers."""
    await store.ping()
    assert await store.count_steps_by_status() == {}
    await create(store, with_step(make_view("pl_a", 3), 0, status=StepStatus.RUNNING))
    assert await store.count_steps_by_status() == {"running": 1, "pending": 2}
