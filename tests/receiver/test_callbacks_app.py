"""The public receiver through ASGITransport, on a real SQLite store and the real inbox."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.engine import Engine
from orchestrator.intake import CallbackInbox
from orchestrator.operations import Operations
from orchestrator.plans import PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.settings import Settings
from orchestrator.store import Store
from receiver.app import MAX_BODY, create_receiver_app
from receiver.tokens import CallbackTokens
from tests.clock import Clock
from tests.fakes import FakeProvider
from tests.store import sql


@dataclass
class Rig:
    client: httpx.AsyncClient
    store: Store
    engine: Engine
    ops: Operations
    fake: FakeProvider
    tokens: CallbackTokens
    clock: Clock
    pipeline_id: str
    database_url: str

    def url(self, step: int, provider: str = "fake", tokens: CallbackTokens | None = None) -> str:
        token = (tokens or self.tokens).mint(CallbackTarget(self.pipeline_id, step, provider))
        return f"/callbacks/{provider}/{token}"

    async def post(self, url: str, body: object, **kw: object) -> httpx.Response:
        return await self.client.post(url, json=body, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def rig(settings: Settings, store: Store) -> AsyncIterator[Rig]:
    clock = Clock()
    fake = FakeProvider(callbacks=True, polls_to_finish=100)
    providers = {"fake": fake}
    engine = Engine(
        store,
        providers,
        settings,
        clock=clock,
        rng=random.Random(0),
        provider_settings={"fake": ProviderSettings(base_url="http://fake", first_poll_s=600)},
        callback_url_for=lambda step: "http://receiver.example/cb",
    )
    ops = Operations(store, providers, clock=clock)
    tokens = CallbackTokens(["new-secret", "old-secret"], max_age_s=3600, clock=clock)
    inbox = CallbackInbox(store, clock=clock)
    app = create_receiver_app(inbox, tokens, {"fake": fake.parse_callback})
    request = PipelineRequest.model_validate(
        {"provider": "fake", "prompt": "a", "extends": [{"prompt": "b"}]}
    )
    view, _ = await ops.create(request)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://public") as client:
        yield Rig(
            client, store, engine, ops, fake, tokens, clock, view.pipeline.id, settings.database_url
        )
    await inbox.close()


async def submit_base(rig: Rig) -> str:
    await rig.engine.run_once()
    step = (await rig.ops.get(rig.pipeline_id)).steps[0]
    assert step.provider_task_id is not None
    return step.provider_task_id


async def callbacks_in_store(rig: Rig) -> int:
    return int((await sql.rows(rig.database_url, "SELECT COUNT(*) AS n FROM callbacks"))[0]["n"])


async def test_callback_is_recorded_and_hints_a_confirming_poll(rig: Rig) -> None:
    """A valid callback is stored once and makes the step due for a poll now."""
    task = await submit_base(rig)
    response = await rig.post(rig.url(0), {"task_id": task, "state": "succeeded"})
    assert response.status_code == 200
    assert await callbacks_in_store(rig) == 1
    step = (await rig.ops.get(rig.pipeline_id)).steps[0]
    assert step.next_at == rig.clock.now


async def test_duplicate_changes_nothing(rig: Rig) -> None:
    """The same callback twice gets the same 2xx and is stored once."""
    task = await submit_base(rig)
    body = {"task_id": task, "state": "succeeded"}
    first = await rig.post(rig.url(0), body)
    second = await rig.post(rig.url(0), body)
    assert first.status_code == second.status_code == 200
    assert await callbacks_in_store(rig) == 1


async def test_apimart_suffix_is_accepted(rig: Rig) -> None:
    """apimart appends /callback to the URL it was given; that form works too."""
    task = await submit_base(rig)
    response = await rig.post(rig.url(0) + "/callback", {"task_id": task, "state": "succeeded"})
    assert response.status_code == 200


@pytest.mark.parametrize("kind", ["forged", "expired", "retired", "other_provider", "garbage"])
async def test_bad_tokens_are_401_and_say_nothing(rig: Rig, kind: str) -> None:
    """Forged, expired, retired-secret and wrong-provider tokens get the same bare 401."""
    task = await submit_base(rig)
    body = {"task_id": task, "state": "succeeded"}
    if kind == "forged":
        url = rig.url(0, tokens=CallbackTokens(["attacker"], max_age_s=3600, clock=rig.clock))
    elif kind == "expired":
        url = rig.url(0)
        rig.clock.now += 3601
    elif kind == "retired":
        url = rig.url(0, tokens=CallbackTokens(["retired-secret"], max_age_s=3600, clock=rig.clock))
    elif kind == "other_provider":
        url = rig.url(0, provider="other").replace("/other/", "/fake/")
    else:
        url = "/callbacks/fake/not-a-token"
    response = await rig.post(url, body)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "message": "invalid callback URL"}
    assert await callbacks_in_store(rig) == 0


async def test_old_but_configured_secret_still_accepted(rig: Rig) -> None:
    """During a rotation a URL signed with the older configured secret still works."""
    task = await submit_base(rig)
    url = rig.url(0, tokens=CallbackTokens(["old-secret"], max_age_s=3600, clock=rig.clock))
    assert (await rig.post(url, {"task_id": task, "state": "succeeded"})).status_code == 200


async def test_oversize_with_content_length_is_413(rig: Rig) -> None:
    """A declared body over 64 KiB is refused before it is read."""
    response = await rig.client.post(
        rig.url(0),
        content=b"{" + b" " * MAX_BODY + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_oversize_without_content_length_is_413(rig: Rig) -> None:
    """A chunked body is refused as soon as it crosses 64 KiB, without reading the rest."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b" " * 4096

    response = await rig.client.post(
        rig.url(0), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert sent < 1000


async def test_not_json_is_400(rig: Rig) -> None:
    """A body that is not JSON gets 400."""
    response = await rig.client.post(
        rig.url(0), content=b"nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_wrong_content_type_is_415(rig: Rig) -> None:
    """Anything but application/json gets 415."""
    response = await rig.client.post(
        rig.url(0), content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415


async def test_unreadable_callback_is_400(rig: Rig) -> None:
    """JSON that is not this provider's callback shape gets 400."""
    assert (await rig.post(rig.url(0), {"hello": "world"})).status_code == 400


async def test_body_for_another_task_is_refused(rig: Rig) -> None:
    """A body naming another task than the token's step is refused and not stored."""
    await submit_base(rig)
    response = await rig.post(rig.url(0), {"task_id": "someone-else", "state": "succeeded"})
    assert response.status_code == 400
    assert await callbacks_in_store(rig) == 0


async def test_callback_before_submit_answer_is_applied_later(rig: Rig) -> None:
    """A callback arriving before the submit's answer is recorded is kept and acted on once
    the task id is known."""
    claimed = await rig.engine.claim()
    task_id = "generate-0"  # the fake's first id, not yet recorded in the store
    response = await rig.post(rig.url(0), {"task_id": task_id, "state": "succeeded"})
    assert response.status_code == 200
    outcomes = [await rig.engine.perform(w) for w in claimed]
    await rig.engine.record(outcomes)
    step = (await rig.ops.get(rig.pipeline_id)).steps[0]
    assert step.provider_task_id == task_id
    assert step.next_at == rig.clock.now


async def test_callback_for_cancelled_pipeline_is_acknowledged_and_ignored(rig: Rig) -> None:
    """After a cancel a callback gets 2xx and changes nothing."""
    task = await submit_base(rig)
    await rig.ops.cancel(rig.pipeline_id)
    response = await rig.post(rig.url(0), {"task_id": task, "state": "succeeded"})
    assert response.status_code == 200
    view = await rig.ops.get(rig.pipeline_id)
    assert view.pipeline.status == "cancelled"
    assert view.steps[0].status == "cancelled"


async def test_forged_success_while_running_changes_nothing(rig: Rig) -> None:
    """A 'succeeded' callback for a task the provider says is running leaves it running."""
    task = await submit_base(rig)
    await rig.post(rig.url(0), {"task_id": task, "state": "succeeded"})
    await rig.engine.run_once()  # the hinted, confirming poll
    step = (await rig.ops.get(rig.pipeline_id)).steps[0]
    assert step.status == "running"
    assert rig.fake.tasks[task].polls == 1
    assert rig.fake.submits == [task]


async def test_confirmed_success_submits_the_child_at_once(rig: Rig) -> None:
    """When the confirming poll says succeeded, the next extend is submitted in the same pass
    loop, without waiting for a timer."""
    rig.fake.polls_to_finish = 1
    task = await submit_base(rig)
    await rig.post(rig.url(0), {"task_id": task, "state": "succeeded"})
    await rig.engine.run_once()  # confirm
    await rig.engine.run_once()  # child is ready now
    view = await rig.ops.get(rig.pipeline_id)
    assert view.steps[0].status == "succeeded"
    assert view.steps[1].status == "submitted"
    assert rig.fake.tasks[view.steps[1].provider_task_id or ""].source == task


async def test_internal_api_is_not_reachable(rig: Rig) -> None:
    """Nothing of the internal API is served on the public listener."""
    assert (await rig.client.get("/v1/pipelines")).status_code == 404
    assert (await rig.client.get("/openapi.json")).status_code == 404
    assert (await rig.client.get("/healthz")).status_code == 200


@pytest.fixture
def all_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    from orchestrator.common import redact

    redact.install()
    # uvicorn's own logging config stops its access log from propagating to caplog.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="uvicorn.access")
    with caplog.at_level(logging.DEBUG):
        yield caplog


async def test_token_never_logged(rig: Rig, all_logs: pytest.LogCaptureFixture) -> None:
    """No log line, accepted or refused, contains a callback token."""
    task = await submit_base(rig)
    url = rig.url(0)
    token = url.rsplit("/", 1)[1]
    await rig.post(url, {"task_id": task, "state": "succeeded"})
    await rig.post(url, {"task_id": "other", "state": "succeeded"})
    await rig.client.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", url, "1.1", 200
    )
    text = "\n".join(r.getMessage() for r in all_logs.records)
    assert "callback refused" in text
    assert "/callbacks/fake/<redacted>" in text
    assert token not in text
    assert json.dumps(token) not in text


async def test_confirmation_can_be_turned_off(settings: Settings, store: Store) -> None:
    """With REELAY_CALLBACK_CONFIRM=false a terminal callback is applied without a status call."""
    clock = Clock()
    fake = FakeProvider(callbacks=True, polls_to_finish=100)
    engine = Engine(
        store,
        {"fake": fake},
        settings.model_copy(update={"callback_confirm": False}),
        clock=clock,
        rng=random.Random(0),
        provider_settings={"fake": ProviderSettings(base_url="http://fake", first_poll_s=600)},
        callback_url_for=lambda step: "http://receiver.example/cb",
    )
    ops = Operations(store, {"fake": fake}, clock=clock)
    tokens = CallbackTokens(["s"], max_age_s=3600, clock=clock)
    inbox = CallbackInbox(store, clock=clock)
    app = create_receiver_app(inbox, tokens, {"fake": fake.parse_callback})
    view, _ = await ops.create(PipelineRequest(provider="fake", prompt="a"))
    await engine.run_once()
    task = (await ops.get(view.pipeline.id)).steps[0].provider_task_id or ""
    token = tokens.mint(CallbackTarget(view.pipeline.id, 0, "fake"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://public") as client:
        response = await client.post(
            f"/callbacks/fake/{token}", json={"task_id": task, "state": "succeeded"}
        )
    assert response.status_code == 200
    await engine.run_once()
    await inbox.close()
    assert (await ops.get(view.pipeline.id)).pipeline.status == "succeeded"
    assert fake.tasks[task].polls == 0
