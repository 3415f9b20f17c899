"""What users can do with webhook endpoints and the outbox: register, rotate, inspect, redeliver."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from orchestrator.domain.webhooks import (
    EVENT_TYPES,
    Attempt,
    Endpoint,
    EndpointSecret,
    Message,
    MessageStatus,
    new_id,
)
from orchestrator.errors import Conflict, FieldProblem, NotFound, Rejected
from orchestrator.store import Store, Transaction
from orchestrator.webhooks.signing import new_secret
from orchestrator.webhooks.ssrf import registration_refusal


class InvalidEndpoint(Rejected):
    """One field of an endpoint is wrong; the message starts with its name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [FieldProblem(field, message)])
        self.field = field


def check_event_types(types: Sequence[str]) -> None:
    for i, t in enumerate(types):
        prefixes = {e.split(".")[0] + ".*" for e in EVENT_TYPES}
        if t not in EVENT_TYPES and t not in prefixes:
            allowed = ", ".join(sorted(EVENT_TYPES | prefixes))
            raise InvalidEndpoint(
                f"event_types[{i}]", f"unknown event type {t!r}; one of {allowed}"
            )


class WebhookOperations:
    def __init__(
        self,
        store: Store,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
    ) -> None:
        self._store = store
        self._wake = wake
        self._clock = clock
        self._allow_private = allow_private
        """REELAY_WEBHOOK_ALLOW_PRIVATE: whether loopback and private destinations are sent to."""

    def _check_url(self, url: str) -> None:
        reason = registration_refusal(url, allow_private=self._allow_private)
        if reason is not None:
            raise InvalidEndpoint("url", reason)

    async def create(
        self, url: str, event_types: Sequence[str], description: str, enabled: bool
    ) -> tuple[Endpoint, str]:
        """The new endpoint and its secret (returned only here)."""
        self._check_url(url)
        check_event_types(event_types)
        now = self._clock()
        secret = new_secret()
        endpoint = Endpoint(
            id=new_id("ep", now),
            url=url,
            description=description,
            event_types=tuple(event_types),
            secrets=(EndpointSecret(secret),),
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )

        async def job(tx: Transaction) -> None:
            await tx.webhooks.insert_endpoint(endpoint)

        await self._store.run(job)
        return endpoint, secret

    async def get(self, endpoint_id: str) -> Endpoint:
        endpoint = await self._store.get_endpoint(endpoint_id)
        if endpoint is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return endpoint

    async def list_endpoints(self) -> list[Endpoint]:
        return await self._store.endpoints()

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Endpoint:
        if url is not None:
            self._check_url(url)
        if event_types is not None:
            check_event_types(event_types)
        now = self._clock()

        async def job(tx: Transaction) -> Endpoint:
            current = await tx.webhooks.endpoint(endpoint_id)
            if current is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            changed = replace(
                current,
                url=url if url is not None else current.url,
                event_types=tuple(event_types) if event_types is not None else current.event_types,
                description=description if description is not None else current.description,
                enabled=enabled if enabled is not None else current.enabled,
                disabled_reason=None if enabled else current.disabled_reason,
                updated_at=now,
            )
            await tx.webhooks.update_endpoint(changed)
            return changed

        endpoint = await self._store.run(job)
        self._wake()
        return endpoint

    async def delete(self, endpoint_id: str) -> None:
        now = self._clock()

        async def job(tx: Transaction) -> None:
            if await tx.webhooks.endpoint(endpoint_id) is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            await tx.webhooks.delete_endpoint(endpoint_id, now)

        await self._store.run(job)

    async def rotate_secret(self, endpoint_id: str, keep_old_for_s: float) -> tuple[Endpoint, str]:
        """A new signing secret; the old ones keep signing for ``keep_old_for_s`` seconds."""
        now = self._clock()
        secret = new_secret()

        async def job(tx: Transaction) -> Endpoint:
            current = await tx.webhooks.endpoint(endpoint_id)
            if current is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            expiry = now + keep_old_for_s
            kept = tuple(
                EndpointSecret(s.value, min(s.expires_at or expiry, expiry))
                for s in current.secrets
                if (s.expires_at is None or s.expires_at > now) and keep_old_for_s > 0
            )
            rotated = replace(current, secrets=(EndpointSecret(secret), *kept), updated_at=now)
            await tx.webhooks.update_endpoint(rotated)
            return rotated

        return await self._store.run(job), secret

    async def message(self, message_id: str) -> tuple[Message, list[Attempt]]:
        message = await self._store.get_message(message_id)
        if message is None:
            raise NotFound(f"no webhook message {message_id}")
        return message, await self._store.attempts(message_id)

    async def messages(
        self,
        *,
        destination: str | None,
        pipeline_id: str | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> list[Message]:
        return await self._store.messages(
            destination=destination,
            pipeline_id=pipeline_id,
            status=status,
            before_id=cursor,
            limit=limit,
        )

    async def redeliver(self, message_id: str) -> Message:
        """Send one message again now, under the same webhook-id."""
        now = self._clock()

        async def job(tx: Transaction) -> Message:
            message = await tx.webhooks.message(message_id)
            if message is None:
                raise NotFound(f"no webhook message {message_id}")
            if message.status is MessageStatus.PENDING and message.attempts == 0:
                raise Conflict(f"message {message_id} has not been attempted yet")
            again = replace(
                message, status=MessageStatus.PENDING, next_attempt_at=now, finished_at=None
            )
            await tx.webhooks.update_messages([again])
            return again

        message = await self._store.run(job)
        self._wake()
        return message

    async def redeliver_failed_since(self, since: float, endpoint_id: str | None) -> int:
        """Every message that failed for good at or after ``since`` goes out again."""
        now = self._clock()

        async def job(tx: Transaction) -> int:
            return await tx.webhooks.redeliver_failed_since(since, endpoint_id, now)

        count = await self._store.run(job)
        self._wake()
        return count
