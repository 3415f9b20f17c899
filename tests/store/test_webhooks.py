"""Outbound webhooks: endpoints, the outbox written with events, chains, leases, attempts."""

from __future__ import annotations

import json
from dataclasses import replace

from orchestrator.domain.models import EventDraft, PipelineView
from orchestrator.domain.webhooks import Attempt, Endpoint, EndpointSecret, Message, MessageStatus
from orchestrator.store import Store, Transaction
from tests.store.builders import NOW, change, create, make_view

M = MessageStatus


def _endpoint(endpoint_id: str, *, enabled: bool = True, types: tuple[str, ...] = ()) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        url=f"https://hooks.example/{endpoint_id}",
        description=f"endpoint {endpoint_id}",
        event_types=types,
        secrets=(EndpointSecret("whsec_new"), EndpointSecret("whsec_old", NOW + 60.5)),
        enabled=enabled,
        created_at=NOW,
        updated_at=NOW,
    )


def _message(
    message_id: str, destination: str, pipeline_id: str, seq: int, due: float | None
) -> Message:
    return Message(
        id=message_id,
        destination=destination,
        url=f"https://hooks.example/{destination}",
        pipeline_id=pipeline_id,
        seq=seq,
        type="step.succeeded",
        payload=json.dumps({"seq": seq}),
        status=M.PENDING,
        attempts=0,
        created_at=NOW,
        next_attempt_at=due,
    )


async def _endpoints(store: Store, *endpoints: Endpoint) -> None:
    async def job(tx: Transaction) -> None:
        for endpoint in endpoints:
            await tx.webhooks.insert_endpoint(endpoint)

    await store.run(job)


async def _messages(store: Store, *messages: Message) -> None:
    await store.run(lambda tx: tx.webhooks.insert_messages(messages))


async def test_endpoints_crud(store: Store) -> None:
    """Endpoints are stored, read, updated and deleted; only enabled ones receive events."""
    await _endpoints(store, _endpoint("ep_1"), _endpoint("ep_2", enabled=False, types=("step.*",)))
    off = _endpoint("ep_2", enabled=False, types=("step.*",))
    assert await store.endpoints() == [_endpoint("ep_1"), off]
    assert await store.get_endpoint("ep_2") == off
    assert await store.get_endpoint("ep_nope") is None

    changed = replace(
        _endpoint("ep_1"),
        url="https://hooks.example/moved",
        enabled=False,
        disabled_reason="410 Gone",
        secrets=(EndpointSecret("whsec_3"),),
        updated_at=NOW + 1,
    )

    async def job(tx: Transaction) -> tuple[list[Endpoint], Endpoint | None, list[Endpoint]]:
        enabled = await tx.webhooks.enabled_endpoints()
        await tx.webhooks.update_endpoint(changed)
        return enabled, await tx.webhooks.endpoint("ep_1"), await tx.webhooks.enabled_endpoints()

    assert await store.run(job) == ([_endpoint("ep_1")], changed, [])
    await store.run(lambda tx: tx.webhooks.delete_endpoint("ep_2", NOW))
    assert await store.endpoints() == [changed]


async def test_saved_events_write_their_messages(store: Store) -> None:
    """Each event goes to the pipeline's webhook and to every enabled endpoint that wants it."""
    await _endpoints(
        store,
        _endpoint("ep_all", types=("step.*", "pipeline.created")),
        _endpoint("ep_off", enabled=False),
    )
    await create(store, make_view("pl_a", webhook_url="https://own.example/hook"))

    def same(view: PipelineView) -> PipelineView:
        return view

    events = [EventDraft("step.submitting", "pl_a", 0), EventDraft("step.succeeded", "pl_a", 0)]
    await change(store, "pl_a", same, events, now=NOW + 1)
    sent = sorted(
        (m.seq, m.destination, m.url, m.type) for m in await store.messages(pipeline_id="pl_a")
    )
    assert sent == [
        (1, "ep_all", "https://hooks.example/ep_all", "pipeline.created"),
        (1, "pipeline", "https://own.example/hook", "pipeline.created"),
        (2, "ep_all", "https://hooks.example/ep_all", "step.submitting"),
        (3, "ep_all", "https://hooks.example/ep_all", "step.succeeded"),
        (3, "pipeline", "https://own.example/hook", "step.succeeded"),
    ]
    last = (await store.messages(destination="pipeline", limit=1))[0]
    assert last.status is M.PENDING
    assert last.next_attempt_at == NOW + 1
    body = json.loads(last.payload)
    assert body["type"] == "step.succeeded"
    assert body["data"] == {"pipeline_id": "pl_a", "seq": body["data"]["seq"], "step": 0}
    assert await store.next_message_due() == NOW


async def test_due_chains_keep_order_and_lease(store: Store) -> None:
    """Heads come earliest first, each followed by later messages of its pipeline and
    destination; a message waits behind an earlier pending one and for a disabled endpoint."""
    assert await store.next_message_due() is None
    await _endpoints(store, _endpoint("ep_1"), _endpoint("ep_2", enabled=False))
    await _messages(
        store,
        _message("msg_1", "ep_1", "pl_a", 1, NOW - 5),
        _message("msg_2", "ep_1", "pl_a", 2, NOW - 10),
        _message("msg_3", "ep_1", "pl_a", 3, NOW + 100),
        _message("msg_4", "pipeline", "pl_a", 1, NOW - 1),
        _message("msg_5", "ep_2", "pl_b", 1, NOW - 20),
        _message("msg_6", "ep_1", "pl_b", 1, NOW + 50),
    )

    def ids(chains: list[list[Message]]) -> list[list[str]]:
        return [[m.id for m in chain] for chain in chains]

    lease = NOW + 30
    assert ids(await store.run(lambda tx: tx.webhooks.due_chains(NOW, 1, lease, 2))) == [
        ["msg_1", "msg_2"]
    ]
    assert ids(await store.run(lambda tx: tx.webhooks.due_chains(NOW, 10, lease, 2))) == [["msg_4"]]
    assert await store.run(lambda tx: tx.webhooks.due_chains(NOW, 10, lease, 2)) == []
    leased = await store.get_message("msg_2")
    assert leased is not None
    assert leased.next_attempt_at == lease

    await store.run(lambda tx: tx.webhooks.release_messages(["msg_1", "msg_2"], NOW))
    await store.run(lambda tx: tx.webhooks.release_messages([], NOW))
    assert ids(await store.run(lambda tx: tx.webhooks.due_chains(NOW, 10, lease, 5))) == [
        ["msg_1", "msg_2", "msg_3"]
    ]


async def test_update_messages_and_attempts(store: Store) -> None:
    """Delivered heads free their followers; attempts are kept in order per message."""
    await _messages(
        store,
        _message("msg_1", "pipeline", "pl_a", 1, NOW),
        _message("msg_2", "pipeline", "pl_a", 2, NOW),
    )
    delivered = replace(
        _message("msg_1", "pipeline", "pl_a", 1, None),
        status=M.DELIVERED,
        attempts=2,
        last_error="HTTP 500",
        finished_at=NOW + 2.5,
    )
    attempts = [
        Attempt(0, "msg_1", NOW + 1, 500, "oops", 12.5, "HTTP 500"),
        Attempt(0, "msg_1", NOW + 2, None, "", 3000.0, "timed out"),
        Attempt(0, "msg_2", NOW + 2, 200, "ok", 1.0, None),
    ]

    async def job(tx: Transaction) -> Message | None:
        await tx.webhooks.update_messages([delivered])
        await tx.webhooks.update_messages([])
        await tx.webhooks.insert_attempts(attempts)
        await tx.webhooks.insert_attempts([])
        return await tx.webhooks.message("msg_1")

    assert await store.run(job) == delivered
    chains = await store.run(lambda tx: tx.webhooks.due_chains(NOW, 10, NOW + 30, 5))
    assert [[m.id for m in c] for c in chains] == [["msg_2"]]
    stored = await store.attempts("msg_1")
    assert [replace(a, id=0) for a in stored] == attempts[:2]
    assert stored[0].id < stored[1].id
    assert await store.attempts("msg_nope") == []


async def test_list_messages_filters(store: Store) -> None:
    """Messages list newest id first, filtered by destination, pipeline and status, paged."""
    await _messages(
        store,
        _message("msg_1", "ep_1", "pl_a", 1, NOW),
        _message("msg_2", "ep_2", "pl_a", 1, NOW),
        _message("msg_3", "ep_1", "pl_b", 1, NOW),
        _message("msg_4", "ep_1", "pl_b", 2, NOW),
    )
    await store.run(lambda tx: tx.webhooks.fail_pending("ep_1", "pl_b", "gone", NOW + 1))

    async def ids(
        destination: str | None = None,
        pipeline_id: str | None = None,
        status: str | None = None,
        before_id: str | None = None,
    ) -> list[str]:
        found = await store.messages(
            destination=destination,
            pipeline_id=pipeline_id,
            status=status,
            before_id=before_id,
            limit=3,
        )
        return [m.id for m in found]

    assert await ids() == ["msg_4", "msg_3", "msg_2"]
    assert await ids(destination="ep_1") == ["msg_4", "msg_3", "msg_1"]
    assert await ids(pipeline_id="pl_a") == ["msg_2", "msg_1"]
    assert await ids(status="failed") == ["msg_4", "msg_3"]
    assert await ids(destination="ep_1", status="pending", before_id="msg_3") == ["msg_1"]
    assert await store.get_message("msg_nope") is None


async def test_fail_pending_and_redeliver(store: Store) -> None:
    """Failing gives up a destination's pending messages; redelivery brings back those failed
    since a time and says how many."""
    await _messages(
        store,
        _message("msg_1", "ep_1", "pl_a", 1, NOW),
        _message("msg_2", "ep_1", "pl_b", 1, NOW),
        _message("msg_3", "ep_2", "pl_a", 1, NOW),
    )
    await store.run(lambda tx: tx.webhooks.fail_pending("ep_1", "pl_a", "cancelled", NOW + 1))
    await store.run(lambda tx: tx.webhooks.fail_pending("ep_1", None, "endpoint deleted", NOW + 5))
    await store.run(lambda tx: tx.webhooks.fail_pending("ep_2", None, "disabled", NOW + 9))
    failed = await store.get_message("msg_1")
    assert failed is not None
    assert (failed.status, failed.last_error, failed.finished_at, failed.next_attempt_at) == (
        M.FAILED,
        "cancelled",
        NOW + 1,
        None,
    )
    assert (
        await store.run(lambda tx: tx.webhooks.redeliver_failed_since(NOW + 5, "ep_1", NOW + 10))
        == 1
    )
    again = await store.get_message("msg_2")
    assert again is not None
    assert (again.status, again.next_attempt_at, again.finished_at) == (M.PENDING, NOW + 10, None)
    assert await store.run(lambda tx: tx.webhooks.redeliver_failed_since(NOW, None, NOW + 11)) == 2
    assert {m.id for m in await store.messages(status="pending")} == {"msg_1", "msg_2", "msg_3"}


async def test_deleting_an_endpoint_fails_its_pending_messages(store: Store) -> None:
    """Messages waiting for a deleted endpoint are given up with a reason."""
    await _endpoints(store, _endpoint("ep_1"))
    await _messages(store, _message("msg_1", "ep_1", "pl_a", 1, NOW))
    await store.run(lambda tx: tx.webhooks.delete_endpoint("ep_1", NOW + 3))
    gone = await store.get_message("msg_1")
    assert gone is not None
    assert (gone.status, gone.last_error, gone.finished_at) == (
        M.FAILED,
        "endpoint deleted",
        NOW + 3,
    )
    assert await store.endpoints() == []
