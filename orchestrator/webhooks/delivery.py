"""Delivering the outbox: claim due messages, sign and send them, record every attempt.

A message is claimed by pushing its due time forward (a lease), so no other pass or replica
sends it meanwhile; a pipeline's messages to one destination go out in sequence order because
a later one is never due while an earlier one is pending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from orchestrator.batching import Batcher
from orchestrator.claim_loop import ClaimLoop
from orchestrator.common import logs
from orchestrator.common.backoff import Outage
from orchestrator.domain.webhooks import (
    PIPELINE_DESTINATION,
    Attempt,
    Endpoint,
    Message,
    MessageStatus,
)
from orchestrator.store import Store, Transaction
from orchestrator.webhooks import retry
from orchestrator.webhooks.signing import headers as signed_headers
from orchestrator.webhooks.ssrf import Delivery

log = logging.getLogger("reelay.webhooks")

_LEASE_MARGIN_S = 30.0
_CHAIN = 20
"""A pipeline's later messages to the same destination, sent right after the head."""
_EXCERPT = 2048


class Sender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Delivery: ...


def after_attempt(
    message: Message, delivery: Delivery, now: float, rng: random.Random
) -> tuple[Message, Attempt]:
    """The message after one attempt, and the attempt's log entry. Pure."""
    attempt = Attempt(
        id=0,
        message_id=message.id,
        attempted_at=now,
        status_code=delivery.status,
        response=delivery.excerpt[:_EXCERPT],
        duration_ms=delivery.duration_ms,
        error=delivery.error,
    )
    attempts = message.attempts + 1
    status = delivery.status
    if status is not None and 200 <= status < 300:
        done = replace(
            message,
            status=MessageStatus.DELIVERED,
            attempts=attempts,
            next_attempt_at=None,
            last_error=None,
            finished_at=now,
        )
        return done, attempt
    reason = delivery.error or f"HTTP {status}"
    if status is not None and 300 <= status < 400:
        reason = f"HTTP {status}: redirects are not followed"
    if status == 410:
        gone = replace(
            message,
            status=MessageStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            last_error="HTTP 410 Gone: destination disabled",
            finished_at=now,
        )
        return gone, attempt
    later = retry.next_attempt_at(now, attempts, rng, delivery.retry_after)
    if later is None:
        failed = replace(
            message,
            status=MessageStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            last_error=f"gave up after {attempts} attempts; last: {reason}",
            finished_at=now,
        )
        return failed, attempt
    return replace(message, attempts=attempts, next_attempt_at=later, last_error=reason), attempt


class Deliverer:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        pipeline_secrets: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        concurrency: int = 64,
        timeout_s: float = 15.0,
        tick_s: float = 1.0,
    ) -> None:
        self._store = store
        self._sender = sender
        self._pipeline_secrets = list(pipeline_secrets)
        self._clock = clock
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._lease_s = timeout_s + _LEASE_MARGIN_S
        self._records: Batcher[tuple[Message, Delivery, list[str]], None] = Batcher(
            store, self._write
        )
        self._loop: ClaimLoop[tuple[list[Message], Endpoint | None]] = ClaimLoop(
            claim=self._claim,
            perform=self._deliver_claimed,
            next_due=store.next_message_due,
            clock=clock,
            concurrency=concurrency,
            tick_s=tick_s,
            min_batch=concurrency // 4,
            name="webhook deliveries",
            logger=log,
        )
        self._recording = Outage("recording webhook attempts", log)

    def wake(self) -> None:
        self._loop.wake()

    def stop(self) -> None:
        self._loop.stop()

    async def close(self) -> None:
        """Wait for attempts being recorded; call before the store closes."""
        await self._records.close()

    async def run_once(self) -> int:
        """Send every due chain once and record the outcomes. Returns how many chains."""
        claimed = await self._claim(self._concurrency)
        await asyncio.gather(*(self._deliver(c, e) for c, e in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Deliver until ``stop``. Deliveries still in flight then are abandoned: delivery is
        at least once, and their leases run out, so they go out again under the same id."""
        await self._loop.run()

    async def _deliver_claimed(self, claimed: tuple[list[Message], Endpoint | None]) -> None:
        await self._deliver(*claimed)

    async def _claim(self, limit: int) -> list[tuple[list[Message], Endpoint | None]]:
        now = self._clock()

        async def job(tx: Transaction) -> list[tuple[list[Message], Endpoint | None]]:
            chains = await tx.webhooks.due_chains(now, limit, now + self._lease_s, _CHAIN)
            endpoints = {e.id: e for e in await tx.webhooks.enabled_endpoints()}
            return [(c, endpoints.get(c[0].destination)) for c in chains]

        return await self._store.run(job)

    async def _deliver(self, chain: list[Message], endpoint: Endpoint | None) -> None:
        """Send a chain in order; the first failure stops it and releases the rest."""
        recorded: list[asyncio.Future[None]] = []
        try:
            for n, message in enumerate(chain):
                now = self._clock()
                if message.destination == PIPELINE_DESTINATION:
                    url, secrets = message.url, self._pipeline_secrets
                elif endpoint is not None:
                    url, secrets = endpoint.url, endpoint.signing_secrets(now)
                else:
                    break  # endpoint disabled since the claim; the leases run out and they wait
                body = message.payload.encode()
                delivery = await self._sender.send(
                    url, signed_headers(secrets, message.id, int(now), body), body
                )
                ok = delivery.status is not None and 200 <= delivery.status < 300
                if not ok:
                    log.info(
                        "webhook %s to %s failed: %s",
                        message.id,
                        message.destination,
                        delivery.error or f"HTTP {delivery.status}",
                        extra=logs.context(message.pipeline_id, message_id=message.id),
                    )
                rest = [] if ok else [m.id for m in chain[n + 1 :]]
                recorded.append(asyncio.ensure_future(self._record((message, delivery, rest))))
                if not ok:
                    break
            await asyncio.gather(*recorded)
        finally:  # stopped mid-chain: no recording keeps retrying after the store closes
            for future in recorded:
                future.cancel()

    async def _record(self, outcome: tuple[Message, Delivery, list[str]]) -> None:
        """Tried again while the database is away (until ``stop``: then the lease runs out
        and the message is sent again, under the same id)."""
        await self._recording.retry(lambda: self._records.submit(outcome))

    async def _write(
        self, tx: Transaction, outcomes: Sequence[tuple[Message, Delivery, list[str]]]
    ) -> list[None]:
        now = self._clock()
        attempts: list[Attempt] = []
        updated: list[Message] = []
        for message, delivery, _ in outcomes:
            after, attempt = after_attempt(message, delivery, now, self._rng)
            updated.append(after)
            attempts.append(attempt)
        await tx.webhooks.insert_attempts(attempts)
        await tx.webhooks.update_messages(updated)
        await tx.webhooks.release_messages([i for *_, rest in outcomes for i in rest], now)
        for message, delivery, _ in outcomes:
            if delivery.status == 410:
                await _disable(tx, message, now)
        return [None] * len(outcomes)


async def _disable(tx: Transaction, message: Message, now: float) -> None:
    """410 Gone: stop sending to that destination."""
    reason = "HTTP 410 Gone"
    if message.destination == PIPELINE_DESTINATION:
        await tx.webhooks.fail_pending(PIPELINE_DESTINATION, message.pipeline_id, reason, now)
        return
    endpoint = await tx.webhooks.endpoint(message.destination)
    if endpoint is not None and endpoint.enabled:
        await tx.webhooks.update_endpoint(
            replace(endpoint, enabled=False, disabled_reason=reason, updated_at=now)
        )
