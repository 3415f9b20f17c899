"""Webhook rows in a transaction: the endpoint registry, the outbox and its attempts log."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from orchestrator.domain.webhooks import Attempt, Endpoint, Message
from orchestrator.store import queries as q
from orchestrator.store.backend import Connection
from orchestrator.store.webhook_rows import (
    attempt_values,
    endpoint_from_row,
    endpoint_update_values,
    endpoint_values,
    message_from_row,
    message_update_values,
    message_values,
)


class WebhookTx:
    """``tx.webhooks``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._enabled_endpoints: list[Endpoint] | None = None

    def forget(self) -> None:
        """The job that may have cached endpoints was rolled back."""
        self._enabled_endpoints = None

    async def enabled_endpoints(self) -> list[Endpoint]:
        """Loaded once per transaction: every job of a batch shares them."""
        if self._enabled_endpoints is None:
            rows = await self._conn.fetch(q.SELECT_ENABLED_ENDPOINTS)
            self._enabled_endpoints = [endpoint_from_row(r) for r in rows]
        return self._enabled_endpoints

    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        rows = await self._conn.fetch(q.SELECT_ENDPOINT, (endpoint_id,))
        return endpoint_from_row(rows[0]) if rows else None

    async def insert_endpoint(self, endpoint: Endpoint) -> None:
        await self._conn.execute(q.INSERT_ENDPOINT, endpoint_values(endpoint))
        self._enabled_endpoints = None

    async def update_endpoint(self, endpoint: Endpoint) -> None:
        await self._conn.execute(q.UPDATE_ENDPOINT, endpoint_update_values(endpoint))
        self._enabled_endpoints = None

    async def delete_endpoint(self, endpoint_id: str, now: float) -> None:
        await self.fail_pending(endpoint_id, None, "endpoint deleted", now)
        await self._conn.execute(q.DELETE_ENDPOINT, (endpoint_id,))
        self._enabled_endpoints = None

    async def insert_messages(self, messages: Sequence[Message]) -> None:
        if messages:
            await self._conn.executemany(q.INSERT_MESSAGE, [message_values(m) for m in messages])

    async def due_chains(
        self, now: float, limit: int, lease_until: float, chain: int
    ) -> list[list[Message]]:
        """Up to ``limit`` due messages, each followed by up to ``chain - 1`` later pending
        messages of the same pipeline to the same destination, all leased."""
        sql = q.DUE_MESSAGES.format(lock=self._conn.skip_locked_clause)
        heads = [message_from_row(r) for r in await self._conn.fetch(sql, (now, limit))]
        if not heads:
            return []
        chains = {(h.destination, h.pipeline_id): [h] for h in heads}
        ids = sorted({h.pipeline_id for h in heads})
        followers = q.FOLLOWERS_OF.format(ids=", ".join("?" * len(ids)))
        for row in await self._conn.fetch(followers, ids):
            message = message_from_row(row)
            links = chains.get((message.destination, message.pipeline_id))
            if links is not None and message.seq > links[-1].seq and len(links) < chain:
                links.append(message)
        leased = [(lease_until, m.id) for links in chains.values() for m in links]
        await self._conn.executemany(q.LEASE_MESSAGE, leased)
        return list(chains.values())

    async def release_messages(self, message_ids: Collection[str], now: float) -> None:
        """Leased messages not attempted after all are due again (behind their head)."""
        if message_ids:
            await self._conn.executemany(q.LEASE_MESSAGE, [(now, i) for i in message_ids])

    async def message(self, message_id: str) -> Message | None:
        rows = await self._conn.fetch(q.SELECT_MESSAGE, (message_id,))
        return message_from_row(rows[0]) if rows else None

    async def update_messages(self, messages: Collection[Message]) -> None:
        if messages:
            await self._conn.executemany(
                q.UPDATE_MESSAGE, [message_update_values(m) for m in messages]
            )

    async def insert_attempts(self, attempts: Collection[Attempt]) -> None:
        if attempts:
            await self._conn.executemany(q.INSERT_ATTEMPT, [attempt_values(a) for a in attempts])

    async def fail_pending(
        self, destination: str, pipeline_id: str | None, reason: str, now: float
    ) -> None:
        await self._conn.execute(
            q.FAIL_PENDING_MESSAGES, (reason, now, destination, pipeline_id, pipeline_id)
        )

    async def redeliver_failed_since(
        self, since: float, destination: str | None, now: float
    ) -> int:
        before = await self._conn.fetchval(q.COUNT_FAILED_SINCE, (since, destination, destination))
        await self._conn.execute(q.REDELIVER_FAILED_SINCE, (now, since, destination, destination))
        return int(before or 0)
