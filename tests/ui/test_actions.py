"""Actions from the dashboard: confirmed forms, CSRF-checked, written to the event log with who
did them and why."""

from __future__ import annotations

import re

from orchestrator.domain.models import Event
from orchestrator.plans import PipelineRequest
from tests.ui.helpers import TOKEN, Board, csrf_of

BASE = {"provider": "fake", "prompt": "a lighthouse at dusk"}


async def _pipeline(board: Board, **body: object) -> str:
    view, _ = await board.ops.create(PipelineRequest.model_validate({**BASE, **body}))
    return view.pipeline.id


def _actions(events: list[Event], *, created: bool = False) -> list[tuple[str, str, str | None]]:
    """Who did what and why; the creation (by the test itself) only when ``created``."""
    return [
        (e.type, e.data["actor"], e.data.get("reason"))
        for e in events
        if e.type.startswith("action.") and (created or e.type != "action.created")
    ]


async def test_cancel_without_the_csrf_token_changes_nothing(board: Board) -> None:
    """A forged form (the cookie, no token) is refused, and the pipeline runs on."""
    await board.sign_in()
    pid = await _pipeline(board)
    refused = await board.client.post(f"/ui/pipelines/{pid}/cancel", data={"reason": "x"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    wrong = await board.client.post(f"/ui/pipelines/{pid}/cancel", data={"csrf": "0" * 64})
    assert wrong.status_code == 403
    assert (await board.ops.get(pid)).pipeline.status == "pending"


async def test_a_form_from_another_origin_is_refused(board: Board) -> None:
    """Even with the token, an Origin that is not the dashboard's is refused."""
    await board.sign_in()
    pid = await _pipeline(board)
    csrf = await board.csrf(f"/ui/pipelines/{pid}")
    refused = await board.client.post(
        f"/ui/pipelines/{pid}/cancel", data={"csrf": csrf}, headers={"Origin": "https://evil.test"}
    )
    assert refused.status_code == 403
    assert (await board.ops.get(pid)).pipeline.status == "pending"


async def test_cancel_is_audited_with_who_and_why(board: Board) -> None:
    """A confirmed cancel ends the pipeline and logs the dashboard and the reason."""
    await board.sign_in()
    pid = await _pipeline(board)
    page = await board.client.get(f"/ui/pipelines/{pid}")
    assert "Yes, cancel the pipeline" in page.text
    done = await board.client.post(
        f"/ui/pipelines/{pid}/cancel",
        data={"csrf": csrf_of(page.text), "reason": "  wrong prompt  "},
        headers={"Origin": "http://dash"},
    )
    assert done.status_code == 303
    assert (await board.ops.get(pid)).pipeline.status == "cancelled"
    assert _actions(await board.events(pid)) == [("action.cancelled", "dashboard", "wrong prompt")]
    shown = await board.client.get(f"/ui/pipelines/{pid}")
    assert "by dashboard: “wrong prompt”" in shown.text


async def test_a_bearer_request_needs_no_csrf_token_and_names_the_token(board: Board) -> None:
    """Scripts post with the API token; the action is logged under the token's name."""
    pid = await _pipeline(board)
    done = await board.client.post(
        f"/ui/pipelines/{pid}/cancel", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert done.status_code == 303
    assert _actions(await board.events(pid)) == [("action.cancelled", "api", None)]


async def test_retry_a_failed_step(board: Board) -> None:
    """A failed step offers Retry; confirming it resubmits and logs who did it."""
    await board.sign_in()
    board.fake.fail_prompts.add("doomed")
    pid = await _pipeline(board, prompt="doomed")
    await board.run(5)
    assert (await board.ops.get(pid)).pipeline.status == "failed"
    page = await board.client.get(f"/ui/pipelines/{pid}")
    assert "Yes, retry" in page.text
    board.fake.fail_prompts.clear()
    done = await board.client.post(
        f"/ui/pipelines/{pid}/retry", data={"csrf": csrf_of(page.text), "reason": "flaky"}
    )
    assert done.status_code == 303
    assert _actions(await board.events(pid)) == [("action.retried", "dashboard", "flaky")]
    await board.run(5)
    assert (await board.ops.get(pid)).pipeline.status == "succeeded"


async def test_extend_from_a_step_after_review(board: Board) -> None:
    """Extend: the form leads to a review; confirming adds the step under the chosen parent."""
    await board.sign_in()
    pid = await _pipeline(board)
    await board.run(5)
    page = await board.client.get(f"/ui/pipelines/{pid}?extend=0")
    csrf = csrf_of(page.text)
    review = await board.client.post(
        f"/ui/pipelines/{pid}/extend", data={"csrf": csrf, "from": "0", "prompt": "the tide"}
    )
    assert review.status_code == 200
    assert "Yes, extend" in review.text
    assert len((await board.ops.get(pid)).steps) == 1  # a review changes nothing
    done = await board.client.post(
        f"/ui/pipelines/{pid}/extend",
        data={"csrf": csrf, "from": "0", "prompt": "the tide", "confirm": "yes", "reason": "more"},
    )
    assert done.status_code == 303
    steps = (await board.ops.get(pid)).steps
    assert [(s.index, s.parent, s.prompt) for s in steps] == [
        (0, None, "a lighthouse at dusk"),
        (1, 0, "the tide"),
    ]
    assert _actions(await board.events(pid))[-1] == ("action.extended", "dashboard", "more")


async def test_extend_is_greyed_out_with_the_reason_past_the_depth_limit(board: Board) -> None:
    """With a depth limit of 1, an extend's node says why it cannot be extended."""
    await board.sign_in()
    board.fake.max_extend_depth = 1
    pid = await _pipeline(board, extends=[{"prompt": "waves"}])
    await board.run(10)
    page = await board.client.get(f"/ui/pipelines/{pid}")
    assert re.search(r'<option value="1" disabled>#1 extend — [^<]*limit of 1', page.text)
    assert '<option value="0"' in page.text
    assert '<option value="0" disabled' not in page.text
    refused = await board.client.post(
        f"/ui/pipelines/{pid}/extend",
        data={"csrf": csrf_of(page.text), "from": "1", "prompt": "x", "confirm": "yes"},
    )
    assert refused.status_code == 422
    assert "limit of 1" in refused.text
    assert len((await board.ops.get(pid)).steps) == 2


async def test_create_shows_the_apis_messages_beside_their_fields(board: Board) -> None:
    """A refused form comes back (422) with each message next to the field it names: first
    what the body's shape gets wrong, then what the provider cannot do."""
    await board.sign_in()
    csrf = await board.csrf("/ui/pipelines/new")
    base = {"csrf": csrf, "op": "review", "provider": "fake"}
    shape = await board.client.post(
        "/ui/pipelines/new", data={**base, "prompt": "   ", "metadata": "{not json"}
    )
    plan = await board.client.post(
        "/ui/pipelines/new",
        data={
            **base,
            "prompt": "a fox",
            "params.aspect_ratio": "4:3",
            "extends[0].prompt": "next",
            "extends[0].from": "5",
        },
    )
    for answer, fields in (
        (shape, ("prompt", "metadata")),
        (plan, ("params-aspect_ratio", "extends-0-from")),
    ):
        assert answer.status_code == 422
        for field in fields:
            assert f'id="err-{field}"' in answer.text, field
            assert f'aria-describedby="err-{field}"' in answer.text, field
    assert "must be a JSON object" in shape.text
    assert ">next</textarea>" in plan.text  # what was typed stays
    assert await board.store.list_pipelines() == []


async def test_create_from_the_form_once_even_if_confirmed_twice(board: Board) -> None:
    """Review, then confirm: one pipeline (a second confirm of the same review is the same)."""
    await board.sign_in()
    csrf = await board.csrf("/ui/pipelines/new")
    form = {
        "csrf": csrf,
        "provider": "fake",
        "prompt": "a red fox",
        "extends[0].prompt": "it runs",
        "extends[1].prompt": "it jumps",
        "extends[1].from": "0",
        "metadata": '{"campaign": "winter"}',
    }
    review = await board.client.post("/ui/pipelines/new", data={**form, "op": "review"})
    assert review.status_code == 200
    assert "Yes, create the pipeline" in review.text
    key = re.search(r'name="key" value="([^"]+)"', review.text)
    assert key is not None
    confirm = {**form, "op": "create", "key": key.group(1)}
    first = await board.client.post("/ui/pipelines/new", data=confirm)
    second = await board.client.post("/ui/pipelines/new", data=confirm)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    (view,) = await board.store.list_pipelines()
    assert [(s.index, s.parent) for s in view.steps] == [(0, None), (1, 0), (2, 0)]
    assert view.pipeline.metadata == {"campaign": "winter"}
    assert _actions(await board.events(view.pipeline.id), created=True) == [
        ("action.created", "dashboard", None)
    ]


async def test_extend_rows_are_added_and_removed(board: Board) -> None:
    """The form's row buttons work without JavaScript: add a row, remove one, keep the rest."""
    await board.sign_in()
    csrf = await board.csrf("/ui/pipelines/new")
    base = {"csrf": csrf, "provider": "fake", "prompt": "p"}
    added = await board.client.post(
        "/ui/pipelines/new", data={**base, "op": "add", "extends[0].prompt": "one"}
    )
    assert 'name="extends[1].prompt"' in added.text
    removed = await board.client.post(
        "/ui/pipelines/new",
        data={**base, "op": "remove-0", "extends[0].prompt": "one", "extends[1].prompt": "two"},
    )
    assert 'name="extends[0].prompt"' in removed.text
    assert ">two</textarea>" in removed.text
    assert 'name="extends[1].prompt"' not in removed.text
