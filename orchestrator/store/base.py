"""The store: durable pipelines, steps and events, behind one interface for every database.

A backend (SQLite, PostgreSQL) only runs SQL; everything else — which rows change, event
numbering, batching — is here, written once.

Every write is a job given to ``Store.run``. On SQLite (one writer) jobs that arrive while a
transaction is being written are grouped into the next one (group commit), each inside its own
savepoint so that one failing job rolls back alone; every caller is answered only after the
commit. Per-transaction cost, not SQL, is what limits a store on these machines
(measured: ~3-4x). On PostgreSQL, which several replicas share, each job is its own transaction,
run concurrently from a pool and retried when the server picks it as a deadlock victim.

Locking, for several replicas: every write to a step first locks its pipeline's row, pipelines
in id order, so writers queue in one order; claims lock with SKIP LOCKED and never wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from orchestrator.artifacts.jobs import downloads_for
from orchestrator.artifacts.models import StepArtifact
from orchestrator.models import Event, EventDraft, Pipeline, PipelineView, Step
from orchestrator.store import queries as q
from orchestrator.store.artifact_tx import ArtifactWrites, step_artifacts
from orchestrator.store.rows import (
    Row,
    event_data,
    event_from_row,
    pipeline_from_row,
    pipeline_update_values,
    pipeline_values,
    step_from_row,
    step_update_values,
    step_values,
)
from orchestrator.store.webhook_tx import WebhookReads, WebhookWrites
from orchestrator.webhooks.outbox import messages_for

log = logging.getLogger("reelay.store")

_CHUNK = 500
_MAX_JOBS_PER_COMMIT = 500
_TRANSIENT_RETRIES = 8

T = TypeVar("T")
Job = Callable[["Transaction"], Awaitable[Any]]


class Connection(Protocol):
    """What a backend offers inside one transaction or read."""

    lock_clause: str
    """Appended to selects that claim rows: empty on SQLite, ``FOR UPDATE ...`` on PostgreSQL."""
    skip_locked_clause: str

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def lock(self, name: str) -> None:
        """Hold the named lock until the transaction ends (a no-op with one writer)."""

    async def notify(self, payload: str) -> None:
        """Tell the other replicas, when this transaction commits, that work may be due."""


class Backend(Protocol):
    shared: bool
    """Whether other processes write the same database (and each job is its own transaction)."""

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    def reader(self) -> AbstractAsyncContextManager[Connection]: ...

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` aborted a transaction that may simply be run again (a deadlock)."""

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        """Call ``on_notify(payload)`` for every other writer's notification until closed."""


class DuplicateKey(Exception):
    """An idempotency key is already taken (raised inside the transaction that tried)."""


class Transaction(WebhookWrites, ArtifactWrites):
    """Reads and writes inside one database transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._enabled_endpoints = None
        self.wrote_events = False
        """Whether the current job appended events (reset per job by the writer)."""
        self.made_due = False
        """Whether the current job made work due that any replica may do (a callback)."""

    def rolled_back(self) -> None:
        """The current job was undone: forget what it may have cached or done."""
        self._enabled_endpoints = None
        self.wrote_events = False
        self.made_due = False

    async def load(
        self, pipeline_ids: Collection[str], *, skip_locked: bool = False
    ) -> dict[str, PipelineView]:
        """Pipelines with their steps, locked for this transaction where the database can.

        ``skip_locked``: leave out pipelines another transaction holds instead of waiting.
        """
        views: dict[str, PipelineView] = {}
        ids = sorted(set(pipeline_ids))
        lock = self._conn.skip_locked_clause if skip_locked else self._conn.lock_clause
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = q.SELECT_PIPELINES_IN.format(ids=marks, lock=lock)
            prows = await self._conn.fetch(sql, chunk)
            if skip_locked and len(prows) < len(chunk):
                chunk = [r["id"] for r in prows]
                if not chunk:
                    continue
                marks = ", ".join("?" * len(chunk))
            srows = await self._conn.fetch(q.SELECT_STEPS_IN.format(ids=marks), chunk)
            steps: dict[str, list[Step]] = {}
            for row in srows:
                step = step_from_row(row)
                steps.setdefault(step.pipeline_id, []).append(step)
            for row in prows:
                pipeline = pipeline_from_row(row)
                views[pipeline.id] = PipelineView(pipeline, tuple(steps.get(pipeline.id, ())))
        return views

    async def by_idempotency_key(self, key: str) -> PipelineView | None:
        rows = await self._conn.fetch(q.SELECT_PIPELINE_BY_KEY, (key,))
        if not rows:
            return None
        return (await self.load([rows[0]["id"]]))[rows[0]["id"]]

    async def due_submits(self, provider: str, now: float, limit: int) -> list[tuple[str, int]]:
        sql = q.DUE_SUBMITS.format(lock=self._conn.skip_locked_clause)
        rows = await self._conn.fetch(sql, (provider, now, limit))
        return [(r["pipeline_id"], r["idx"]) for r in rows]

    async def due_polls(self, provider: str, now: float, limit: int) -> list[tuple[str, int]]:
        """Steps whose next poll is due (lock their pipelines, then ``lease_polls``)."""
        sql = q.DUE_POLLS.format(lock=self._conn.skip_locked_clause)
        rows = await self._conn.fetch(sql, (provider, now, limit))
        return [(r["pipeline_id"], r["idx"]) for r in rows]

    async def lease_polls(self, leases: Mapping[tuple[str, int], float]) -> None:
        """Push each poll to its lease's end so that nobody else makes it meanwhile."""
        if leases:
            rows = [(until, p, i) for (p, i), until in leases.items()]
            await self._conn.executemany(q.LEASE_POLL, rows)

    async def lock_pipelines(self, pipeline_ids: Collection[str]) -> None:
        """Lock these pipelines' rows, in id order, before writing any of their steps."""
        ids = sorted(set(pipeline_ids))
        if not self._conn.lock_clause:
            return
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = q.LOCK_PIPELINES_IN.format(
                ids=", ".join("?" * len(chunk)), lock=self._conn.lock_clause
            )
            await self._conn.fetch(sql, chunk)

    async def release_polls(self, keys: Collection[tuple[str, int]], now: float) -> None:
        """Polls that were leased but never made are due again now."""
        if keys:
            await self.lock_pipelines({p for p, _ in keys})
            await self._conn.executemany(q.RELEASE_POLL, [(now, p, i) for p, i in keys])
            self.made_due = True

    async def step_tasks(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], str | None]:
        """The provider task id of each existing step among ``keys`` (None: not yet known)."""
        found: dict[tuple[str, int], str | None] = {}
        ids = sorted({p for p, _ in keys})
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = q.STEP_TASKS_OF.format(ids=", ".join("?" * len(chunk)))
            for row in await self._conn.fetch(sql, chunk):
                key = (row["pipeline_id"], row["idx"])
                if key in keys:
                    found[key] = row["provider_task_id"]
        return found

    async def owners_of_tasks(
        self, provider: str, task_ids: Collection[str]
    ) -> dict[str, tuple[str, int]]:
        """Which step owns each of these provider task ids, for those that are known."""
        ids = sorted(set(task_ids))
        owners: dict[str, tuple[str, int]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = q.OWNERS_OF_TASKS.format(ids=", ".join("?" * len(chunk)))
            for row in await self._conn.fetch(sql, (provider, *chunk)):
                owners[row["provider_task_id"]] = (row["pipeline_id"], row["idx"])
        return owners

    async def insert_callbacks(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(provider, task_id, state, pipeline_id, step_idx, body, received_at) rows."""
        if rows:
            await self._conn.executemany(q.INSERT_CALLBACK, rows)

    async def hint_steps(self, hints: Collection[tuple[str, int, str]], now: float) -> None:
        """Poll these (pipeline_id, idx, task_id) steps now, if they are still in flight."""
        if hints:
            await self.lock_pipelines({p for p, _, _ in hints})
            await self._conn.executemany(q.HINT_STEP, [(now, p, i, t, now) for p, i, t in hints])
            self.made_due = True

    async def tasks_with_callbacks(self, provider: str, task_ids: Collection[str]) -> set[str]:
        ids = sorted(set(task_ids))
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = q.CALLBACKS_OF_TASKS.format(ids=", ".join("?" * len(chunk)))
            found |= {r["task_id"] for r in await self._conn.fetch(sql, (provider, *chunk))}
        return found

    async def latest_terminal_callback(self, step: Step) -> str | None:
        rows = await self._conn.fetch(
            q.LATEST_TERMINAL_CALLBACK,
            (step.pipeline_id, step.index, step.provider, step.provider_task_id),
        )
        return str(rows[0]["body"]) if rows else None

    async def secret(self, name: str, candidate: str, now: float) -> str:
        """The stored secret ``name``; ``candidate`` becomes it if none exists yet."""
        await self._conn.execute(q.INSERT_STORED_VALUE, (name, candidate, now))
        value = await self._conn.fetchval(q.SELECT_STORED_VALUE, (name,))
        return str(value)

    async def in_flight_of(self, provider: str) -> int:
        """Tasks of ``provider`` submitted (or being submitted) and not finished."""
        return int(await self._conn.fetchval(q.IN_FLIGHT_OF, (provider,)) or 0)

    async def step_by_task(self, provider: str, task_id: str) -> tuple[str, int] | None:
        rows = await self._conn.fetch(q.STEP_BY_TASK, (provider, task_id))
        return (rows[0]["pipeline_id"], rows[0]["idx"]) if rows else None

    async def adoptable(self) -> list[tuple[str, int, str]]:
        rows = await self._conn.fetch(q.ADOPTABLE)
        return [(r["pipeline_id"], r["idx"], r["task_id"]) for r in rows]

    async def lock_provider(self, provider: str) -> None:
        """Serialize claims of ``provider``'s submits across replicas until this commits (so
        that in-flight counts are not read twice before either is written)."""
        await self._conn.lock(f"provider:{provider}")

    async def orphaned_submits(
        self, replica: str, alive_since: float
    ) -> list[tuple[str, int, str | None]]:
        """(pipeline id, index, replica) of submits in flight whose replica is not alive: no
        heartbeat since ``alive_since``. Never ``replica``'s own."""
        rows = await self._conn.fetch(q.ORPHANED_SUBMITS, (replica, alive_since))
        return [(r["pipeline_id"], r["idx"], r["claimed_by"]) for r in rows]

    async def claimed_submits(self, replica: str) -> list[tuple[str, int]]:
        """Submits in flight that ``replica`` claimed."""
        rows = await self._conn.fetch(q.CLAIMED_SUBMITS, (replica,))
        return [(r["pipeline_id"], r["idx"]) for r in rows]

    async def heartbeat(self, replica: str, now: float, forget_before: float) -> None:
        """This replica is alive; replicas silent since ``forget_before`` are forgotten."""
        host, pid = socket.gethostname(), os.getpid()
        await self._conn.execute(q.UPSERT_REPLICA, (replica, host, pid, now, now))
        await self._conn.execute(q.DELETE_GONE_REPLICAS, (forget_before,))

    async def touch_readiness(self, now: float) -> None:
        """A one-row write that proves the database takes writes (``/readyz``)."""
        await self._conn.execute(q.TOUCH_READINESS, (now,))

    async def leave(self, replica: str) -> None:
        """This replica stops: whatever it still has in flight is orphaned at once."""
        await self._conn.execute(q.DELETE_REPLICA, (replica,))

    async def save(
        self,
        changes: Iterable[tuple[PipelineView | None, PipelineView]],
        events: Iterable[EventDraft],
        now: float,
    ) -> int:
        """Write what changed between each (before, after) pair, then number and append events.

        ``before`` is None for a new pipeline. Returns how many events were appended.
        """
        new_pipelines: list[Pipeline] = []
        new_steps: list[Step] = []
        changed_steps: list[Step] = []
        pipelines: dict[str, Pipeline] = {}
        changes_list = list(changes)
        for before, after in changes_list:
            old_steps = {s.index: s for s in before.steps} if before else {}
            for step in after.steps:
                old = old_steps.get(step.index)
                if old is None:
                    new_steps.append(step)
                elif old != step:
                    changed_steps.append(step)
            pipelines[after.pipeline.id] = after.pipeline
            if before is None:
                new_pipelines.append(after.pipeline)
        event_rows: list[tuple[Any, ...]] = []
        numbered: list[Event] = []
        for draft in events:
            pipeline = pipelines[draft.pipeline_id]
            seq = pipeline.event_seq + 1
            pipelines[draft.pipeline_id] = replace(pipeline, event_seq=seq)
            event_rows.append(
                (draft.pipeline_id, seq, draft.type, draft.step, event_data(draft.data), now)
            )
            numbered.append(
                Event(0, draft.pipeline_id, seq, draft.type, draft.step, draft.data, now)
            )
        created = {p.id for p in new_pipelines}
        if new_pipelines:
            await self._conn.executemany(
                q.INSERT_PIPELINE, [pipeline_values(pipelines[p.id]) for p in new_pipelines]
            )
        updated = [p for pid, p in pipelines.items() if pid not in created]
        if updated:
            await self._conn.executemany(
                q.UPDATE_PIPELINE, [pipeline_update_values(p) for p in updated]
            )
        if new_steps:
            await self._conn.executemany(q.INSERT_STEP, [step_values(s) for s in new_steps])
        if changed_steps:
            await self._conn.executemany(
                q.UPDATE_STEP, [step_update_values(s) for s in changed_steps]
            )
        # A step's success and the downloads that keep its videos are one write.
        await self.insert_downloads(downloads_for(changes_list, now))
        if event_rows:
            self.wrote_events = True
            # Held to the commit: event ids then follow commit order, so a reader's cursor
            # (SSE Last-Event-ID) never passes an id that another writer commits later.
            await self._conn.lock("events")
            await self._conn.executemany(q.INSERT_EVENT, event_rows)
            # The outbox is written in the events' own transaction: no event without its messages.
            endpoints = await self.enabled_endpoints()
            await self.insert_messages(messages_for(numbered, pipelines, endpoints, now))
        return len(event_rows)


class Store(WebhookReads):
    """Everything the engine and the API persist."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._jobs: list[tuple[Job, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._alone: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[], None]] = []
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        """This process's name among the replicas sharing the database."""

    @property
    def shared(self) -> bool:
        """Whether other replicas may write this database at the same time."""
        return self._backend.shared

    async def migrate(self) -> None:
        await self._backend.migrate()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer
        if self._alone:
            await asyncio.wait(self._alone)
        await self._backend.close()

    async def listen(self, on_remote: Callable[[], None]) -> None:
        """Whenever another replica commits work that may be due here (events, a callback),
        call ``on_remote`` and the commit listeners (the stream, deliverer and downloader)."""

        def heard(payload: str) -> None:
            if payload != self.instance:
                on_remote()
                for listener in list(self._listeners):
                    listener()

        await self._backend.listen(heard)

    async def run(self, job: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run ``job`` in a write transaction; returns its result once committed.

        A job must only use the transaction it is given. On SQLite it runs in the writer's
        task, after and before other jobs of the same transaction; on PostgreSQL it has a
        transaction of its own, which is run again from the start if the server aborts it as
        a deadlock victim. A cancelled caller does not cancel its job.
        """
        if self._backend.shared:
            task = asyncio.ensure_future(self._run_alone(job))
            self._alone.add(task)
            task.add_done_callback(self._alone.discard)
            return await asyncio.shield(task)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append((job, future))
        if self._writer is None or self._writer.done():
            # The writer outlives a cancelled caller: other callers' jobs ride on it.
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _run_alone(self, job: Callable[[Transaction], Awaitable[T]]) -> T:
        for attempt in range(1, _TRANSIENT_RETRIES + 1):
            try:
                async with self._backend.transaction() as conn:
                    tx = Transaction(conn)
                    result = await job(tx)
                    if tx.wrote_events or tx.made_due:
                        await conn.notify(self.instance)
            except Exception as exc:
                if attempt == _TRANSIENT_RETRIES or not self._backend.is_transient(exc):
                    raise
                log.info("transaction aborted (%s); running it again (attempt %d)", exc, attempt)
                await asyncio.sleep(0.005 * attempt)
                continue
            if tx.wrote_events:
                for listener in list(self._listeners):
                    listener()
            return result
        raise AssertionError("unreachable")

    async def _write_all(self) -> None:
        while self._jobs:
            batch = self._jobs[:_MAX_JOBS_PER_COMMIT]
            del self._jobs[:_MAX_JOBS_PER_COMMIT]
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                tx_wrote_events = False
                async with self._backend.transaction() as conn:
                    tx = Transaction(conn)
                    for n, (job, future) in enumerate(batch):
                        await conn.execute(f"SAVEPOINT job{n}")
                        tx.wrote_events = False
                        try:
                            result = await job(tx)
                        except Exception as exc:
                            await conn.execute(f"ROLLBACK TO SAVEPOINT job{n}")
                            tx.rolled_back()
                            results.append((future, None, exc))
                        else:
                            results.append((future, result, None))
                            tx_wrote_events = tx_wrote_events or tx.wrote_events
                        await conn.execute(f"RELEASE SAVEPOINT job{n}")
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            if tx_wrote_events:
                for listener in list(self._listeners):
                    listener()
            for future, result, error in results:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

    async def get(self, pipeline_id: str) -> PipelineView | None:
        async with self._backend.reader() as conn:
            return (await Transaction(_Unlocked(conn)).load([pipeline_id])).get(pipeline_id)

    async def list_pipelines(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[PipelineView]:
        async with self._backend.reader() as conn:
            rows = await conn.fetch(
                q.LIST_PIPELINES,
                (status, status, provider, provider, before_id, before_id, limit),
            )
            ids = [r["id"] for r in rows]
            views = await Transaction(_Unlocked(conn)).load(ids)
        return [views[i] for i in ids if i in views]

    async def events(self, pipeline_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        async with self._backend.reader() as conn:
            rows = await conn.fetch(q.EVENTS_OF_PIPELINE, (pipeline_id, after_seq, limit))
        return [event_from_row(r) for r in rows]

    async def events_after(
        self, after_id: int, pipeline_id: str | None = None, limit: int = 1000
    ) -> list[Event]:
        async with self._backend.reader() as conn:
            rows = await conn.fetch(q.EVENTS_AFTER, (after_id, pipeline_id, pipeline_id, limit))
        return [event_from_row(r) for r in rows]

    async def last_event_id(self) -> int:
        async with self._backend.reader() as conn:
            value = await conn.fetchval(q.LAST_EVENT_ID)
        return int(value or 0)

    async def step_artifacts(self, pipeline_ids: Collection[str]) -> list[StepArtifact]:
        async with self._backend.reader() as conn:
            return await step_artifacts(conn, pipeline_ids)

    async def next_download_due(self) -> float | None:
        async with self._backend.reader() as conn:
            value = await conn.fetchval(q.NEXT_DOWNLOAD_DUE)
        return float(value) if value is not None else None

    async def next_due(self) -> float | None:
        async with self._backend.reader() as conn:
            value = await conn.fetchval(q.NEXT_DUE)
        return float(value) if value is not None else None

    async def count_steps_by_status(self) -> dict[str, int]:
        async with self._backend.reader() as conn:
            rows = await conn.fetch(q.COUNT_STEPS_BY_STATUS)
        return {r["status"]: r["n"] for r in rows}

    async def metrics_snapshot(self) -> dict[str, dict[str, int]]:
        """Counts for ``/metrics``, from a few aggregate queries in one read.

        ``pipelines`` and ``steps`` by status; ``in_flight`` (steps submitted or running) and
        ``polls`` (polls ever made) by provider; ``deliveries`` (webhook attempts) by result:
        2xx, redirect, 4xx, 5xx, refused or error; ``artifacts``: ``count`` and ``bytes``.
        """
        async with self._backend.reader() as conn:
            pipelines = await conn.fetch(q.PIPELINES_BY_STATUS)
            steps = await conn.fetch(q.STEPS_BY_PROVIDER_STATUS)
            attempts = await conn.fetch(q.ATTEMPTS_BY_RESULT)
            totals = (await conn.fetch(q.ARTIFACT_TOTALS))[0]
        by_status: dict[str, int] = {}
        in_flight: dict[str, int] = {}
        polls: dict[str, int] = {}
        for r in steps:
            provider, status, n = r["provider"], r["status"], int(r["n"])
            by_status[status] = by_status.get(status, 0) + n
            busy = n if status in ("submitted", "running") else 0
            in_flight[provider] = in_flight.get(provider, 0) + busy
            polls[provider] = polls.get(provider, 0) + int(r["polls"])
        return {
            "pipelines": {r["status"]: int(r["n"]) for r in pipelines},
            "steps": by_status,
            "in_flight": in_flight,
            "polls": polls,
            "deliveries": {r["result"]: int(r["n"]) for r in attempts},
            "artifacts": {"count": int(totals["n"]), "bytes": int(totals["bytes"])},
        }

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, object]]:
        async with self._backend.reader() as conn:
            return [dict(r) for r in await conn.fetch(sql, params)]

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """``listener`` runs after every committed transaction that appended events (and so
        possibly webhook messages and downloads): the stream, the deliverer and the downloader
        wait on it. Not after every transaction: a claim must not wake its own claimer."""
        self._listeners.append(listener)

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.remove(listener)

    async def ping(self) -> None:
        async with self._backend.reader() as conn:
            await conn.fetchval("SELECT 1")


class _Unlocked:
    """A connection used for plain reads: no row locks."""

    lock_clause = ""
    skip_locked_clause = ""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._conn.fetch(sql, params)

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._conn.fetchval(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def lock(self, name: str) -> None:
        raise RuntimeError(f"a read takes no locks (asked for {name!r})")

    async def notify(self, payload: str) -> None:
        raise RuntimeError("a read notifies nobody")
