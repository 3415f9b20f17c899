"""Provider callbacks (recorded once, hints to poll now) and stored secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from orchestrator.domain.models import StepStatus
from orchestrator.store import Store, Transaction, open_store
from tests.store import sql
from tests.store.builders import NOW, create, make_view, with_step

S = StepStatus


async def _steps(store: Store) -> None:
    await create(
        store,
        with_step(make_view("pl_a", 2), 0, status=S.RUNNING, provider_task_id="t-a", next_at=NOW),
        with_step(make_view("pl_b"), 0, status=S.SUBMITTED, provider_task_id="t-b", next_at=NOW),
        with_step(make_view("pl_c"), 0, status=S.SUCCEEDED, provider_task_id="t-c"),
        with_step(make_view("pl_d", provider="other"), 0, status=S.RUNNING, provider_task_id="t-a"),
    )


def _callback(task: str, state: str, pid: str, body: str, at: float = NOW) -> tuple[object, ...]:
    return ("fake", task, state, pid, 0, body, at)


async def test_step_tasks_and_owners(store: Store) -> None:
    """Task ids of the asked-for steps that exist; owners of the task ids that are known."""
    await _steps(store)

    async def job(tx: Transaction) -> tuple[object, object]:
        tasks = await tx.callbacks.step_tasks({("pl_a", 0), ("pl_a", 1), ("pl_b", 0), ("pl_x", 0)})
        owners = await tx.callbacks.owners_of_tasks("fake", ["t-a", "t-c", "t-zzz", "t-a"])
        return tasks, owners

    tasks, owners = await store.run(job)
    assert tasks == {("pl_a", 0): "t-a", ("pl_a", 1): None, ("pl_b", 0): "t-b"}
    assert owners == {"t-a": ("pl_a", 0), "t-c": ("pl_c", 0)}


async def test_callbacks_are_recorded_once(store: Store, store_url: str) -> None:
    """A repeated (provider, task, state) is ignored: the first body stays."""
    await _steps(store)
    await store.run(
        lambda tx: tx.callbacks.insert_callbacks(
            [_callback("t-a", "running", "pl_a", "first"), _callback("t-b", "queued", "pl_b", "b")]
        )
    )
    await store.run(
        lambda tx: tx.callbacks.insert_callbacks(
            [
                _callback("t-a", "running", "pl_a", "second"),
                _callback("t-a", "succeeded", "pl_a", "done"),
            ]
        )
    )
    await store.run(lambda tx: tx.callbacks.insert_callbacks([]))
    stored = await sql.rows(store_url, "SELECT task_id, state, body FROM callbacks ORDER BY id")
    assert [(r["task_id"], r["state"], r["body"]) for r in stored] == [
        ("t-a", "running", "first"),
        ("t-b", "queued", "b"),
        ("t-a", "succeeded", "done"),
    ]
    found = await store.run(
        lambda tx: tx.callbacks.tasks_with_callbacks("fake", ["t-a", "t-c", "t-b"])
    )
    assert found == {"t-a", "t-b"}
    assert await store.run(lambda tx: tx.callbacks.tasks_with_callbacks("other", ["t-a"])) == set()


async def test_latest_terminal_callback(store: Store) -> None:
    """The body of the step's most recent terminal callback; None without one."""
    await _steps(store)
    view = await store.get("pl_a")
    assert view is not None
    step = view.steps[0]
    assert await store.run(lambda tx: tx.callbacks.latest_terminal_callback(step)) is None
    await store.run(
        lambda tx: tx.callbacks.insert_callbacks(
            [
                _callback("t-a", "failed", "pl_a", "failed body"),
                _callback("t-a", "running", "pl_a", "running body"),
                _callback("t-a", "succeeded", "pl_a", "succeeded body"),
                _callback("t-a", "queued", "pl_a", "queued body"),
            ]
        )
    )
    assert (
        await store.run(lambda tx: tx.callbacks.latest_terminal_callback(step)) == "succeeded body"
    )


async def test_hints_poll_in_flight_steps_now(store: Store) -> None:
    """A hint brings an in-flight step's poll forward, never back, and only for its task."""
    await _steps(store)
    hints = {("pl_a", 0, "t-a"), ("pl_b", 0, "wrong-task"), ("pl_c", 0, "t-c")}
    await store.run(lambda tx: tx.callbacks.hint_steps(hints, NOW - 10))
    await store.run(lambda tx: tx.callbacks.hint_steps({("pl_a", 0, "t-a")}, NOW + 10))
    await store.run(lambda tx: tx.callbacks.hint_steps(set(), NOW))
    times = []
    for pid in ("pl_a", "pl_b", "pl_c"):
        view = await store.get(pid)
        assert view is not None
        times.append(view.steps[0].next_at)
    assert times == [NOW - 10, NOW, None]


def _secret(candidate: str) -> Callable[[Transaction], Awaitable[str]]:
    return lambda tx: tx.replicas.secret("signing", candidate, NOW)


async def test_secret_is_created_once(store: Store, store_url: str) -> None:
    """Concurrent get-or-create calls, from two stores on one database, agree on one value."""
    other = await open_store(store_url)
    try:
        stores = [store, other] * 4
        values = await asyncio.gather(*(s.run(_secret(f"c{n}")) for n, s in enumerate(stores)))
        again = await other.run(_secret("late"))
    finally:
        await other.close()
    assert len(set(values)) == 1
    assert values[0].startswith("c")
    assert again == values[0]
    assert await store.run(lambda tx: tx.replicas.secret("other", "x", NOW)) == "x"


async def test_terminal_callbacks_of_a_pipeline(store: Store) -> None:
    """The first callback saying each (step, task) finished, by when it came; others ignored."""
    await _steps(store)
    assert await store.terminal_callbacks("pl_a") == {}
    await store.run(
        lambda tx: tx.callbacks.insert_callbacks(
            [
                _callback("t-a", "running", "pl_a", "b", NOW + 1),
                _callback("t-a", "succeeded", "pl_a", "b", NOW + 5),
                _callback("t-a", "failed", "pl_a", "b", NOW + 3),
                _callback("t-b", "succeeded", "pl_b", "b", NOW + 9),
            ]
        )
    )
    assert await store.terminal_callbacks("pl_a") == {(0, "t-a"): NOW + 3}
