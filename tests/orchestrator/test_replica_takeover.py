"""Several replicas on one database: a submit in flight belongs to the replica that sent it,
until that replica stops beating; then another holds it (never resends it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.settings import Settings
from orchestrator.store import Store, open_store
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import fake_engine

CHAIN = PipelineRequest.model_validate(
    {"provider": "fake", "prompt": "base", "extends": [{"prompt": "more"}]}
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'reelay.db'}"
    store = await open_store(url)
    yield store
    await store.close()


def two_replicas(
    store: Store, fake: FakeProvider, settings: Settings
) -> tuple[Engine, Engine, Operations, Clock]:
    """Replicas a and b on one store, and the API's operations, on one clock."""
    clock = Clock()
    a = fake_engine(store, fake, settings, clock, "a")
    b = fake_engine(store, fake, settings, clock, "b")
    return a, b, Operations(store, {"fake": fake}, clock=clock), clock


async def _status(ops: Operations, pipeline_id: str) -> tuple[str, str | None, str | None]:
    step = (await ops.get(pipeline_id)).steps[0]
    return str(step.status), step.claimed_by, step.provider_task_id


async def test_only_a_silent_replicas_submits_are_taken_over(
    shared_store: Store, settings: Settings, fake: FakeProvider
) -> None:
    """While replica a beats, b leaves a's submit alone; once a is silent for longer than the
    TTL, b holds it as ambiguous and says whose it was. Nothing is sent twice."""
    a, b, ops, clock = two_replicas(shared_store, fake, settings)
    view, _ = await ops.create(CHAIN)
    await a.heartbeat()
    await b.heartbeat()
    assert len(await a.claim()) == 1  # a records its intent; its request is in flight
    assert await b.recover() == 0
    assert await _status(ops, view.pipeline.id) == ("submitting", "a", None)

    clock.now += settings.replica_ttl_s - 1
    await b.heartbeat()
    assert await b.recover() == 0  # a's last beat is still within the TTL

    clock.now += 2
    assert await b.recover() == 1
    step = (await ops.get(view.pipeline.id)).steps[0]
    assert step.status == "ambiguous"
    assert step.error is not None
    assert step.error.code == "SUBMIT_INTERRUPTED"
    assert "replica a" in step.error.message
    assert await b.run_once() == 0  # held: b does not resend it
    assert fake.submits == []


async def test_a_late_answer_after_a_takeover_continues_from_its_task(
    shared_store: Store, settings: Settings, fake: FakeProvider
) -> None:
    """a was only slow: its answer, recorded after b took the step over, names the task, and
    the pipeline continues from it with no second submit."""
    a, b, ops, clock = two_replicas(shared_store, fake, settings)
    view, _ = await ops.create(CHAIN)
    await a.heartbeat()
    [work] = await a.claim()
    clock.now += settings.replica_ttl_s + 1
    await b.heartbeat()
    assert await b.recover() == 1
    outcome = await a.perform(work)
    await a.record([outcome])
    assert await _status(ops, view.pipeline.id) == ("submitted", "a", fake.submits[0])
    for _ in range(20):
        clock.now += 60
        await b.run_once()
    final = await ops.get(view.pipeline.id)
    assert final.pipeline.status == "succeeded"
    assert len(fake.submits) == 2  # one per step


async def test_an_answer_for_a_step_claimed_again_since_is_ignored(
    shared_store: Store, settings: Settings, fake: FakeProvider
) -> None:
    """After a takeover and an operator's retry, b submits the step itself: a's stale answer
    must not overwrite b's claim (nor crash the recording of other outcomes)."""
    a, b, ops, _ = two_replicas(shared_store, fake, settings)
    view, _ = await ops.create(CHAIN)
    [work] = await a.claim()
    await b.recover()  # a never beat: its claim is an orphan at once
    await ops.retry(view.pipeline.id)
    [again] = await b.claim()
    await a.record([await a.perform(work)])
    assert await _status(ops, view.pipeline.id) == ("submitting", "b", None)
    await b.record([await b.perform(again)])
    assert await _status(ops, view.pipeline.id) == ("submitted", "b", fake.submits[1])


async def test_a_replica_that_leaves_hands_over_at_once(
    shared_store: Store, settings: Settings, fake: FakeProvider
) -> None:
    """A replica that stops with a submit still unanswered (cut off by the shutdown wait)
    leaves the set: the others hold its submit without waiting for the TTL."""
    a, b, ops, _ = two_replicas(shared_store, fake, settings)
    view, _ = await ops.create(CHAIN)
    await a.heartbeat()
    await a.claim()
    assert await b.recover() == 0
    await a.leave()
    assert await b.recover() == 1
    assert (await _status(ops, view.pipeline.id))[0] == "ambiguous"
