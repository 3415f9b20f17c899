"""Outbound delivery on a real SQLite store with an injected clock and a recording sender."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from orchestrator.domain.webhooks import MessageStatus
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.store import Store
from orchestrator.webhooks import retry
from orchestrator.webhooks.delivery import Deliverer
from orchestrator.webhooks.endpoints import WebhookOperations
from orchestrator.webhooks.signing import new_secret
from orchestrator.webhooks.ssrf import Delivery, WebhookSender
from tests.clock import Clock
from tests.fakes import FakeProvider

HOOK = "https://hooks.example/reelay"


@dataclass
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingSender:
    """Answers from a script of statuses (default 200) and keeps every request."""

    statuses: list[int] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    retry_after: float | None = None

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Delivery:
        self.sent.append(Sent(url, dict(headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        return Delivery(
            status=status,
            excerpt=f"answer {status}",
            duration_ms=1.0,
            error=None,
            refused=False,
            retry_after=self.retry_after if status == 429 else None,
        )

    def types(self) -> list[str]:
        return [json.loads(s.body)["type"] for s in self.sent]


@dataclass
class Rig:
    store: Store
    ops: Operations
    hooks: WebhookOperations
    deliverer: Deliverer
    sender: RecordingSender
    clock: Clock
    secret: str


@pytest.fixture
def rig(store: Store) -> Rig:
    clock = Clock()
    sender = RecordingSender()
    secret = new_secret()
    deliverer = Deliverer(store, sender, [secret], clock=clock, rng=random.Random(0))
    return Rig(
        store,
        Operations(store, {"fake": FakeProvider()}, clock=clock),
        WebhookOperations(store, clock=clock),
        deliverer,
        sender,
        clock,
        secret,
    )


def request(**kw: object) -> PipelineRequest:
    return PipelineRequest.model_validate({"provider": "fake", "prompt": "a", **kw})


async def drain(rig: Rig) -> None:
    while await rig.deliverer.run_once():
        pass


async def test_pipeline_webhook_is_signed_per_standard_webhooks(rig: Rig) -> None:
    """The pipeline's webhook_url gets {type, timestamp, data} signed so that the independent
    standardwebhooks verifier accepts it; the webhook-id names the message."""
    rig.clock.now = time.time()  # the oracle checks the timestamp against now
    view, _ = await rig.ops.create(request(webhook_url=HOOK))
    await drain(rig)
    assert len(rig.sender.sent) == 1
    sent = rig.sender.sent[0]
    assert sent.url == HOOK
    payload = Webhook(rig.secret).verify(sent.body.decode(), sent.headers)
    assert payload["type"] == "pipeline.created"
    assert payload["data"]["pipeline_id"] == view.pipeline.id
    assert sent.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook(rig.secret).verify(sent.body.decode().replace("created", "failed"), sent.headers)


async def test_endpoint_filter_and_own_secret(rig: Rig) -> None:
    """A registered endpoint receives only the event types it asked for, signed with its own
    secret."""
    rig.clock.now = time.time()
    endpoint, secret = await rig.hooks.create(HOOK + "/ep", ["pipeline.*"], "", True)
    view, _ = await rig.ops.create(request())
    await rig.ops.cancel(view.pipeline.id)
    await drain(rig)
    assert rig.sender.types() == ["pipeline.created", "pipeline.cancelled"]
    for sent in rig.sender.sent:
        assert sent.url == endpoint.url
        Webhook(secret).verify(sent.body.decode(), sent.headers)


async def test_delivered_message_and_attempt_log(rig: Rig) -> None:
    """A 2xx marks the message delivered and logs the attempt with status and response."""
    await rig.ops.create(request(webhook_url=HOOK))
    await drain(rig)
    [message] = await rig.store.messages()
    assert message.status is MessageStatus.DELIVERED
    [attempt] = await rig.store.attempts(message.id)
    assert (attempt.status_code, attempt.response) == (200, "answer 200")


async def test_retry_schedule_covers_more_than_a_day(rig: Rig) -> None:
    """Failures are retried on the exponential schedule for over 24 h, then given up."""
    rig.sender.statuses = [503] * 100
    await rig.ops.create(request(webhook_url=HOOK))
    start = rig.clock.now
    gaps: list[float] = []
    for _ in range(len(retry.DELAYS_S) + 1):
        assert await rig.deliverer.run_once() == 1
        [message] = await rig.store.messages()
        if message.next_attempt_at is None:
            break
        gaps.append(message.next_attempt_at - rig.clock.now)
        rig.clock.now = message.next_attempt_at
    [message] = await rig.store.messages()
    assert message.status is MessageStatus.FAILED
    assert message.attempts == len(retry.DELAYS_S) + 1
    assert rig.clock.now - start > 24 * 3600
    for gap, nominal in zip(gaps, retry.DELAYS_S, strict=True):
        assert 0.8 * nominal <= gap <= 1.2 * nominal
    assert "gave up" in (message.last_error or "")


async def test_retry_after_is_honoured(rig: Rig) -> None:
    """A 429's Retry-After pushes the next attempt at least that far."""
    rig.sender.statuses = [429]
    rig.sender.retry_after = 600
    await rig.ops.create(request(webhook_url=HOOK))
    await rig.deliverer.run_once()
    [message] = await rig.store.messages()
    assert message.next_attempt_at is not None
    assert message.next_attempt_at - rig.clock.now >= 600


async def test_redirect_is_a_failure(rig: Rig) -> None:
    """A 3xx is not followed; it counts as a failed attempt and is retried."""
    rig.sender.statuses = [302]
    await rig.ops.create(request(webhook_url=HOOK))
    await rig.deliverer.run_once()
    [message] = await rig.store.messages()
    assert message.status is MessageStatus.PENDING
    assert "redirects are not followed" in (message.last_error or "")
    assert len(rig.sender.sent) == 1


async def test_gone_disables_the_endpoint(rig: Rig) -> None:
    """A 410 disables the endpoint: nothing more is sent to it."""
    endpoint, _ = await rig.hooks.create(HOOK, [], "", True)
    rig.sender.statuses = [410]
    view, _ = await rig.ops.create(request())
    await drain(rig)
    await rig.ops.cancel(view.pipeline.id)
    rig.clock.now += 3600
    await drain(rig)
    assert len(rig.sender.sent) == 1
    disabled = await rig.hooks.get(endpoint.id)
    assert not disabled.enabled
    assert disabled.disabled_reason == "HTTP 410 Gone"


async def test_per_endpoint_order_waits_for_the_earlier_message(rig: Rig) -> None:
    """A pipeline's later event is not sent while an earlier one to the same endpoint is
    still being retried; once it goes through, the rest follow in sequence order."""
    rig.sender.statuses = [500]
    view, _ = await rig.ops.create(request(webhook_url=HOOK))
    await rig.ops.cancel(view.pipeline.id)
    await rig.deliverer.run_once()
    assert rig.sender.types() == ["pipeline.created"]
    assert await rig.deliverer.run_once() == 0  # the retry is not due, and seq 2 waits
    rig.clock.now += 3600
    await drain(rig)
    seqs = [json.loads(s.body)["data"]["seq"] for s in rig.sender.sent]
    assert seqs == sorted(seqs)
    assert rig.sender.types()[:2] == ["pipeline.created", "pipeline.created"]
    assert rig.sender.types()[-1] == "pipeline.cancelled"


async def test_rotation_sends_both_signatures(rig: Rig) -> None:
    """After a rotation both secrets sign, so a receiver holding either one verifies."""
    rig.clock.now = time.time()
    endpoint, old = await rig.hooks.create(HOOK, [], "", True)
    _, new = await rig.hooks.rotate_secret(endpoint.id, keep_old_for_s=3600)
    await rig.ops.create(request())
    await drain(rig)
    sent = rig.sender.sent[0]
    assert len(sent.headers["webhook-signature"].split()) == 2
    Webhook(old).verify(sent.body.decode(), sent.headers)
    Webhook(new).verify(sent.body.decode(), sent.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(sent.body.decode(), sent.headers)


async def test_redeliver_one_and_failed_since(rig: Rig) -> None:
    """A message can be redelivered under the same id; everything that failed since T goes
    out again."""
    await rig.ops.create(request(webhook_url=HOOK))
    await drain(rig)
    [message] = await rig.store.messages()
    await rig.hooks.redeliver(message.id)
    await drain(rig)
    assert [s.headers["webhook-id"] for s in rig.sender.sent] == [message.id, message.id]
    rig.sender.statuses = [500] * 20
    await rig.ops.create(request(webhook_url=HOOK))
    for _ in range(len(retry.DELAYS_S) + 1):
        rig.clock.now += 60_000  # past the longest jittered delay
        await rig.deliverer.run_once()
    failed = await rig.store.messages(status="failed")
    assert len(failed) == 1
    assert await rig.hooks.redeliver_failed_since(rig.clock.now - 10**6, None) == 1
    rig.sender.statuses = []
    await drain(rig)
    again = await rig.store.get_message(failed[0].id)
    assert again is not None
    assert again.status is MessageStatus.DELIVERED


async def test_ssrf_refusal_is_in_the_attempts_log(rig: Rig, store: Store) -> None:
    """A destination on loopback (registered while private destinations were allowed) is
    refused at send time and the refusal is logged."""
    sender = WebhookSender(allow_private=False, timeout_s=2)
    deliverer = Deliverer(store, sender, [rig.secret], clock=rig.clock)
    lenient = Operations(
        store, {"fake": FakeProvider()}, clock=rig.clock, allow_private_webhooks=True
    )
    await lenient.create(request(webhook_url="http://127.0.0.1:9/hook"))
    await deliverer.run_once()
    await sender.aclose()
    [message] = await store.messages()
    [attempt] = await store.attempts(message.id)
    assert attempt.status_code is None
    assert "refused" in (attempt.error or "").lower()


async def test_outbox_survives_a_restart(rig: Rig) -> None:
    """Messages written with their events are delivered by a deliverer started later."""
    await rig.ops.create(request(webhook_url=HOOK))
    later = RecordingSender()
    fresh = Deliverer(rig.store, later, [rig.secret], clock=rig.clock)
    await fresh.run_once()
    assert [json.loads(s.body)["type"] for s in later.sent] == ["pipeline.created"]
