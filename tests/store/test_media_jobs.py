"""Media job rows (last frames, whole videos) on both databases: waiting for downloads,
leased, made due when a download is recorded, finished, asked for again."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.artifacts.jobs import MediaWork
from orchestrator.domain.media import MediaStatus
from orchestrator.store import Store, Transaction
from tests.store.builders import NOW, create, make_view


async def test_a_job_waits_then_is_leased_once_and_finishes(store: Store) -> None:
    await create(store, make_view("pl_a", 2), make_view("pl_b"))

    async def enqueue(tx: Transaction) -> None:
        await tx.media.enqueue([("pl_a", 1, "video"), ("pl_a", 0, "frame")], NOW, NOW + 30)
        await tx.media.enqueue([("pl_b", 0, "video")], NOW, NOW + 30)

    await store.run(enqueue)
    assert await store.next_media_due() == NOW + 30
    assert await store.run(lambda tx: tx.media.due(NOW, 10, NOW + 900)) == []

    # A download of pl_a was recorded: its waiting jobs look now, pl_b's still wait.
    await store.run(lambda tx: tx.media.inputs_kept("pl_a", NOW + 1))
    due = await store.run(lambda tx: tx.media.due(NOW + 1, 10, NOW + 900))
    assert sorted(j.key for j in due) == [("pl_a", 0, "frame"), ("pl_a", 1, "video")]
    # Leased: not claimed again until the lease runs out, and not made due by a download.
    await store.run(lambda tx: tx.media.inputs_kept("pl_a", NOW + 2))
    assert await store.run(lambda tx: tx.media.due(NOW + 2, 10, NOW + 900)) == []
    [working] = [j for j in await store.media_jobs("pl_a") if j.kind == "video"]
    assert working.status is MediaStatus.WORKING

    done = replace(
        working,
        status=MediaStatus.DONE,
        next_at=None,
        attempts=1,
        result={"sha256": "ab" * 32, "partial": False},
        updated_at=NOW + 3,
    )
    await store.run(lambda tx: tx.media.update([done]))
    [kept] = [j for j in await store.media_jobs("pl_a") if j.kind == "video"]
    assert kept.status is MediaStatus.DONE
    assert kept.result == {"sha256": "ab" * 32, "partial": False}


async def test_asking_again_remakes_unless_told_not_to(store: Store) -> None:
    await create(store, make_view("pl_a", 2))
    await store.run(lambda tx: tx.media.enqueue([("pl_a", 1, "video")], NOW, NOW))
    [job] = await store.run(lambda tx: tx.media.due(NOW, 10, NOW + 900))
    done = replace(job, status=MediaStatus.DONE, next_at=None, result={"upto": 1})
    await store.run(lambda tx: tx.media.update([done]))

    once: list[MediaWork] = [("pl_a", 1, "video")]
    await store.run(lambda tx: tx.media.enqueue(once, NOW + 5, NOW + 5, again=False))
    assert [j.status for j in await store.media_jobs("pl_a")] == [MediaStatus.DONE]

    await store.run(lambda tx: tx.media.enqueue(once, NOW + 6, NOW + 6))
    [again] = await store.media_jobs("pl_a")
    assert (again.status, again.next_at, again.attempts) == (MediaStatus.WAITING, NOW + 6, 0)
