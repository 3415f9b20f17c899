"""The pipeline list's filters and counts, the same on SQLite and PostgreSQL: creation ranges
(as id ranges), text over prompts and metadata, counts that agree with the list."""

from __future__ import annotations

from orchestrator.domain.models import PipelineStatus, new_pipeline_id
from orchestrator.store import Store
from tests.store.builders import create, make_view, with_step

DAY = 86_400.0
T0 = 1_790_000_000.0


async def _seed(store: Store) -> list[str]:
    """Four pipelines a day apart, with prompts and metadata to search."""
    ids = [new_pipeline_id(T0 + n * DAY) for n in range(4)]
    views = [
        with_step(make_view(ids[0], metadata={"campaign": "Winter"}), 0, prompt="A red fox"),
        with_step(
            make_view(ids[1], 2, provider="b", status=PipelineStatus.FAILED), 1, prompt="Storm 100%"
        ),
        with_step(make_view(ids[2], metadata={"tag": "snow_day"}), 0, prompt="Café au lait"),
        with_step(make_view(ids[3], status=PipelineStatus.RUNNING), 0, prompt="a_b and a\\b"),
    ]
    await create(store, *views)
    return ids


async def _ids(store: Store, **filters: object) -> list[str]:
    return [v.pipeline.id for v in await store.list_pipelines(**filters)]  # type: ignore[arg-type]


async def test_created_range_is_from_inclusive_to_exclusive(store: Store) -> None:
    """A range selects the pipelines created in it, newest first."""
    ids = await _seed(store)
    assert await _ids(store, created_from=T0 + DAY) == [ids[3], ids[2], ids[1]]
    assert await _ids(store, created_to=T0 + DAY) == [ids[0]]
    assert await _ids(store, created_from=T0 + DAY, created_to=T0 + 3 * DAY) == [ids[2], ids[1]]
    assert await _ids(store, created_from=T0 + 9 * DAY) == []


async def test_text_matches_prompts_and_metadata_ignoring_case(store: Store) -> None:
    """Any step's prompt, or the metadata JSON, contains the text; case does not matter."""
    ids = await _seed(store)
    assert await _ids(store, text="FOX") == [ids[0]]
    assert await _ids(store, text="winter") == [ids[0]]
    assert await _ids(store, text="storm") == [ids[1]]  # step 1's prompt
    assert await _ids(store, text="café") == [ids[2]]
    assert await _ids(store, text="nothing like it") == []


async def test_like_wildcards_in_the_text_are_literal(store: Store) -> None:
    """``%``, ``_`` and a backslash match themselves, not anything."""
    ids = await _seed(store)
    assert await _ids(store, text="100%") == [ids[1]]
    assert await _ids(store, text="%") == [ids[1]]
    assert await _ids(store, text="_") == [ids[3], ids[2]]  # a_b, snow_day
    assert await _ids(store, text="a\\b") == [ids[3]]


async def test_filters_combine_and_page(store: Store) -> None:
    """Status, provider, range and text narrow together; the cursor pages within them."""
    ids = await _seed(store)
    assert await _ids(store, provider="fake", text="a") == [ids[3], ids[2], ids[0]]
    assert await _ids(store, status="failed", text="storm") == [ids[1]]
    assert await _ids(store, status="pending", text="storm") == []
    assert await _ids(store, provider="fake", text="a", limit=2) == [ids[3], ids[2]]
    assert await _ids(store, provider="fake", text="a", before_id=ids[2]) == [ids[0]]


async def test_counts_agree_with_the_list(store: Store) -> None:
    """Every status is counted (zeros too), under the same filters as the list."""
    ids = await _seed(store)
    everything = await store.count_pipelines()
    assert everything == {
        "pending": 2,
        "running": 1,
        "succeeded": 0,
        "failed": 1,
        "cancelled": 0,
    }
    assert sum(everything.values()) == len(await _ids(store))
    narrowed = await store.count_pipelines(provider="fake", created_from=T0 + DAY, text="a")
    assert narrowed == {"pending": 1, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert sum(narrowed.values()) == len(
        await _ids(store, provider="fake", created_from=T0 + DAY, text="a")
    )
    assert ids
