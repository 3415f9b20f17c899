"""Audit: every action on a pipeline writes one ``action.*`` event, in the same transaction
as the change and right after its events, saying who did it and why."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.models import Event
from orchestrator.errors import Conflict, Rejected
from orchestrator.operations import MAX_REASON, action_reason
from orchestrator.plans import ExtendSpec, PipelineRequest
from orchestrator.settings import Settings
from orchestrator.store import Store
from orchestrator.webhooks.endpoints import WebhookOperations
from tests.fakes import FakeProvider
from tests.orchestrator.helpers import CHAIN, drive, rig


def _types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


async def test_each_action_is_recorded_right_after_its_change(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """create, extend and cancel each end their events with one audit event naming the actor,
    the reason, and for an extend the new step and the step it continues."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN, actor="ci")
    pid = view.pipeline.id
    assert _types(await store.events(pid)) == ["pipeline.created", "action.created"]
    assert (await store.events(pid))[-1].data == {"actor": "ci", "reason": None}

    seen = len(await store.events(pid))
    spec = ExtendSpec.model_validate({"prompt": "d", "from": 0})
    await ops.add_extend(pid, spec, actor="alice", reason="one more branch")
    added = (await store.events(pid))[seen:]
    assert _types(added) == ["step.added", "action.extended"]
    assert (added[-1].step, added[-1].data) == (
        3,
        {"actor": "alice", "reason": "one more branch", "index": 3, "from": 0},
    )

    seen += len(added)
    await ops.cancel(pid, actor="bob", reason="wrong prompt")
    cancelled = (await store.events(pid))[seen:]
    assert _types(cancelled)[-2:] == ["pipeline.cancelled", "action.cancelled"]
    assert all(t.startswith("step.") for t in _types(cancelled)[:-2])
    assert cancelled[-1].step is None
    assert cancelled[-1].data == {"actor": "bob", "reason": "wrong prompt"}
    assert [e.seq for e in await store.events(pid)] == list(range(1, seen + len(cancelled) + 1))


async def test_the_default_actor_is_api(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """Called without an actor (a script on Operations), the action is the API's."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    await ops.cancel(view.pipeline.id)
    audits = [e for e in await store.events(view.pipeline.id) if e.type.startswith("action.")]
    assert [(e.type, e.data["actor"]) for e in audits] == [
        ("action.created", "api"),
        ("action.cancelled", "api"),
    ]


async def test_retry_records_the_steps_it_resumed(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """A retry of a failed base resumes it and the extends cancelled below it, and says so."""
    engine, ops, clock = rig(settings, store, fake)
    fake.fail_prompts.add("a")
    view, _ = await ops.create(CHAIN)
    pid = view.pipeline.id
    await drive(engine, clock, 5)
    assert (await ops.get(pid)).pipeline.status == "failed"
    seen = len(await store.events(pid))
    await ops.retry(pid, actor="ops", reason="the provider is back")
    retried = (await store.events(pid))[seen:]
    assert retried[-1].type == "action.retried"
    assert retried[-1].data == {
        "actor": "ops",
        "reason": "the provider is back",
        "steps": [0, 1, 2],
    }
    assert all(not t.startswith("action.") for t in _types(retried)[:-1])


async def test_a_refused_action_records_nothing(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """An action refused inside its transaction (409, 422) leaves no audit event behind."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    pid = view.pipeline.id
    await ops.cancel(pid)
    before = await store.events(pid)
    with pytest.raises(Conflict):
        await ops.cancel(pid, actor="late", reason="again")
    with pytest.raises(Conflict):
        await ops.retry(pid, actor="late")
    with pytest.raises(Conflict):
        await ops.add_extend(pid, ExtendSpec(prompt="x"), actor="late")
    assert await store.events(pid) == before


async def test_an_extend_refused_by_its_plan_records_nothing(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """An extend from a step that does not exist is 422 naming ``from``, and writes nothing."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    before = await store.events(view.pipeline.id)
    with pytest.raises(Rejected) as refused:
        await ops.add_extend(
            view.pipeline.id, ExtendSpec.model_validate({"prompt": "x", "from": 9}), reason="y"
        )
    assert [p.field for p in refused.value.problems] == ["from"]
    assert await store.events(view.pipeline.id) == before


async def test_a_replayed_create_records_nothing(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """The same Idempotency-Key and body return the stored pipeline and write no event."""
    _, ops, _ = rig(settings, store, fake)
    first, created = await ops.create(CHAIN, "key-1", actor="ci")
    before = await store.events(first.pipeline.id)
    again, created_again = await ops.create(CHAIN, "key-1", actor="someone-else")
    assert (created, created_again) == (True, False)
    assert again.pipeline.id == first.pipeline.id
    assert await store.events(first.pipeline.id) == before
    assert [e.data["actor"] for e in before if e.type == "action.created"] == ["ci"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (None, None),
        ("", None),
        ("  \n\t ", None),
        ("  wrong prompt \n", "wrong prompt"),
        (" " + "x" * MAX_REASON + " ", "x" * MAX_REASON),
    ],
)
async def test_the_reason_is_trimmed_and_blank_is_none(
    settings: Settings, store: Store, fake: FakeProvider, given: str | None, kept: str | None
) -> None:
    """The reason is kept trimmed; a blank one is none; 500 characters after trimming fit."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    await ops.cancel(view.pipeline.id, reason=given)
    assert (await store.events(view.pipeline.id))[-1].data["reason"] == kept


async def test_a_reason_too_long_is_refused_naming_it(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """501 characters (after trimming) are refused naming ``reason``, before anything changes."""
    _, ops, _ = rig(settings, store, fake)
    view, _ = await ops.create(CHAIN)
    before = await store.events(view.pipeline.id)
    too_long = "x" * (MAX_REASON + 1)
    for act in (
        lambda: ops.cancel(view.pipeline.id, reason=too_long),
        lambda: ops.retry(view.pipeline.id, reason=too_long),
        lambda: ops.add_extend(view.pipeline.id, ExtendSpec(prompt="x"), reason=too_long),
        lambda: ops.create(CHAIN, reason=too_long),
    ):
        with pytest.raises(Rejected) as refused:
            await act()
        assert [p.field for p in refused.value.problems] == ["reason"]
    assert await store.events(view.pipeline.id) == before
    assert (await ops.get(view.pipeline.id)).pipeline.status == "pending"
    assert len(await store.list_pipelines()) == 1


def test_action_reason_is_the_rule() -> None:
    """The one rule the API's bodies apply too."""
    assert action_reason("  a  ") == "a"
    assert action_reason(" ") is None
    with pytest.raises(Rejected, match="reason"):
        action_reason("y" * (MAX_REASON + 1))


async def _message_types(store: Store, destination: str) -> list[str]:
    messages = await WebhookOperations(store).messages(
        destination=destination, pipeline_id=None, status=None, cursor=None, limit=100
    )
    return sorted(m.type for m in messages)


async def test_audit_events_go_only_to_endpoints_that_name_them(
    settings: Settings, store: Store, fake: FakeProvider
) -> None:
    """An endpoint naming ``action.*`` receives the audit events, with who and why; one
    without a filter, and a pipeline's own webhook_url, receive the other events only."""
    _, ops, _ = rig(settings, store, fake)
    hooks = WebhookOperations(store, allow_private=True)
    audits, _ = await hooks.create("https://audit.example/h", ["action.*"], "", True)
    everything, _ = await hooks.create("https://all.example/h", [], "", True)
    request: dict[str, Any] = {
        "provider": "fake",
        "prompt": "a",
        "webhook_url": "https://mine.example/h",
    }
    view, _ = await ops.create(PipelineRequest.model_validate(request), actor="ci")
    await ops.cancel(view.pipeline.id, actor="alice", reason="no longer needed")
    assert await _message_types(store, audits.id) == ["action.cancelled", "action.created"]
    assert "action.created" not in await _message_types(store, everything.id)
    assert "pipeline.cancelled" in await _message_types(store, everything.id)
    assert not any(t.startswith("action.") for t in await _message_types(store, "pipeline"))
    [cancel] = [
        m
        for m in await WebhookOperations(store).messages(
            destination=audits.id, pipeline_id=None, status=None, cursor=None, limit=10
        )
        if m.type == "action.cancelled"
    ]
    assert '"actor":"alice","reason":"no longer needed"' in cancel.payload
