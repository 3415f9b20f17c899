"""Plain reads outside any write transaction: what the API, the stream and /metrics show."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from orchestrator.domain.artifacts import StepArtifact
from orchestrator.domain.ledger import LedgerEntry, UsageKey
from orchestrator.domain.media import MediaJob
from orchestrator.domain.models import Event, PipelineStatus, PipelineView
from orchestrator.domain.webhooks import Attempt, Endpoint, Message
from orchestrator.store import queries as q
from orchestrator.store.artifact_tx import step_artifacts
from orchestrator.store.backend import Backend, chunks, placeholders
from orchestrator.store.media_tx import media_from_row
from orchestrator.store.money_tx import CapOverride, MoneyTx, Usage, ledger_entry
from orchestrator.store.pipeline_tx import load_views
from orchestrator.store.rows import Row, event_from_row
from orchestrator.store.webhook_rows import attempt_from_row, endpoint_from_row, message_from_row


class Reads:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._backend.reader() as conn:
            return await conn.fetch(sql, params)

    async def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._backend.reader() as conn:
            return await conn.fetchval(sql, params)

    async def ledger(self, pipeline_ids: Collection[str]) -> list[LedgerEntry]:
        """Every submit's money of these pipelines, by pipeline, step and submit."""
        found: list[LedgerEntry] = []
        async with self._backend.reader() as conn:
            for chunk in chunks(sorted(set(pipeline_ids))):
                sql = q.LEDGER_OF_PIPELINES.format(ids=placeholders(chunk))
                found += [ledger_entry(r) for r in await conn.fetch(sql, chunk)]
        return found

    async def spend(
        self, first_day: str, last_day: str, key: str, provider: str | None
    ) -> list[Row]:
        """Per ``key`` value and ledger state: submits, their amount and how many are
        unpriced, for submits reserved from ``first_day`` to ``last_day`` (inclusive)."""
        sql = q.SPEND.format(key=key)
        return await self._rows(sql, (first_day, last_day, provider, provider))

    async def spend_totals(self) -> list[Row]:
        """Per provider, model and ledger state, the amount of every priced submit ever."""
        return await self._rows(q.SPEND_TOTALS)

    async def budget_usage(self, keys: Collection[UsageKey]) -> dict[UsageKey, Usage]:
        async with self._backend.reader() as conn:
            return await MoneyTx(conn).usage(keys)

    async def cap_overrides(self) -> dict[str, CapOverride]:
        async with self._backend.reader() as conn:
            return await MoneyTx(conn).caps()

    async def budget_waiters(self) -> int:
        """Steps waiting for a budget (a cap, or a price a cap needs)."""
        return int(await self._value(q.COUNT_BUDGET_WAITERS) or 0)

    async def ping(self) -> None:
        await self._value("SELECT 1")

    async def get(self, pipeline_id: str) -> PipelineView | None:
        async with self._backend.reader() as conn:
            return (await load_views(conn, [pipeline_id], lock="")).get(pipeline_id)

    async def list_pipelines(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        text: str | None = None,
    ) -> list[PipelineView]:
        """Newest first. ``created_from`` is inclusive, ``created_to`` exclusive (epoch s);
        ``text`` matches prompts and metadata, ignoring case (ASCII letters on SQLite)."""
        filters = _filters(provider, created_from, created_to, text)
        async with self._backend.reader() as conn:
            rows = await conn.fetch(
                q.LIST_PIPELINES.format(like=conn.like),
                (status, status, before_id, before_id, *filters, limit),
            )
            ids = [r["id"] for r in rows]
            views = await load_views(conn, ids, lock="")
        return [views[i] for i in ids if i in views]

    async def count_pipelines(
        self,
        *,
        provider: str | None = None,
        created_from: float | None = None,
        created_to: float | None = None,
        text: str | None = None,
    ) -> dict[str, int]:
        """How many pipelines of each status the same filters select (every status listed)."""
        filters = _filters(provider, created_from, created_to, text)
        async with self._backend.reader() as conn:
            rows = await conn.fetch(q.COUNT_PIPELINES.format(like=conn.like), filters)
        found = {r["status"]: int(r["n"]) for r in rows}
        return {s.value: found.get(s.value, 0) for s in PipelineStatus}

    async def events(self, pipeline_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        rows = await self._rows(q.EVENTS_OF_PIPELINE, (pipeline_id, after_seq, limit))
        return [event_from_row(r) for r in rows]

    async def events_after(
        self, after_id: int, pipeline_id: str | None = None, limit: int = 1000
    ) -> list[Event]:
        rows = await self._rows(q.EVENTS_AFTER, (after_id, pipeline_id, pipeline_id, limit))
        return [event_from_row(r) for r in rows]

    async def last_event_id(self) -> int:
        return int(await self._value(q.LAST_EVENT_ID) or 0)

    async def step_artifacts(self, pipeline_ids: Collection[str]) -> list[StepArtifact]:
        async with self._backend.reader() as conn:
            return await step_artifacts(conn, pipeline_ids)

    async def next_due(self) -> float | None:
        return _time(await self._value(q.NEXT_DUE))

    async def media_jobs(self, pipeline_id: str) -> list[MediaJob]:
        return [media_from_row(r) for r in await self._rows(q.MEDIA_OF, (pipeline_id,))]

    async def next_media_due(self) -> float | None:
        return _time(await self._value(q.NEXT_MEDIA_DUE))

    async def next_download_due(self) -> float | None:
        return _time(await self._value(q.NEXT_DOWNLOAD_DUE))

    async def next_message_due(self) -> float | None:
        return _time(await self._value(q.NEXT_MESSAGE_DUE))

    async def count_steps_by_status(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in await self._rows(q.COUNT_STEPS_BY_STATUS)}

    async def terminal_callbacks(self, pipeline_id: str) -> dict[tuple[int, str], float]:
        """When the first callback saying a task finished arrived, by (step, task id)."""
        rows = await self._rows(q.TERMINAL_CALLBACKS_OF_PIPELINE, (pipeline_id,))
        return {(r["step_idx"], r["task_id"]): r["received_at"] for r in rows}

    async def endpoints(self) -> list[Endpoint]:
        return [endpoint_from_row(r) for r in await self._rows(q.SELECT_ENDPOINTS)]

    async def get_endpoint(self, endpoint_id: str) -> Endpoint | None:
        rows = await self._rows(q.SELECT_ENDPOINT, (endpoint_id,))
        return endpoint_from_row(rows[0]) if rows else None

    async def get_message(self, message_id: str) -> Message | None:
        rows = await self._rows(q.SELECT_MESSAGE, (message_id,))
        return message_from_row(rows[0]) if rows else None

    async def messages(
        self,
        *,
        destination: str | None = None,
        pipeline_id: str | None = None,
        status: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[Message]:
        rows = await self._rows(
            q.LIST_MESSAGES,
            (
                *(destination, destination),
                *(pipeline_id, pipeline_id),
                *(status, status),
                *(before_id, before_id),
                limit,
            ),
        )
        return [message_from_row(r) for r in rows]

    async def attempts(self, message_id: str) -> list[Attempt]:
        return [attempt_from_row(r) for r in await self._rows(q.SELECT_ATTEMPTS, (message_id,))]

    async def in_flight_by_provider(self) -> dict[str, int]:
        """Tasks submitted or running, by provider (none: not in the mapping). Read from the
        ``steps_by_status_provider`` index, not the steps themselves."""
        rows = await self._rows(q.IN_FLIGHT_BY_PROVIDER)
        return {r["provider"]: int(r["n"]) for r in rows}

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


def _time(value: Any) -> float | None:
    return float(value) if value is not None else None


def id_at(moment: float) -> str:
    """The smallest pipeline id created at ``moment`` (ids begin with the time in ms)."""
    return f"pl_{max(0, int(moment * 1000)):012x}"


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(
    provider: str | None, created_from: float | None, created_to: float | None, text: str | None
) -> tuple[str | None, ...]:
    start = None if created_from is None else id_at(created_from)
    end = None if created_to is None else id_at(created_to)
    pattern = None if not text else like_pattern(text)
    return (provider, provider, start, start, end, end, pattern, pattern, pattern)
