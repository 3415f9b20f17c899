"""apixo emulation: the code/message/data envelope, resultJson strings, ms times, extend rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.clock import Clock
from tests.sandbox.conftest import Configure

API = "/apixo/api/v1"
INPUT = {"mode": "fast", "prompt": "a city at night", "generationType": "TEXT_2_VIDEO"}
BAD_SOURCE = {
    "code": 400,
    "message": "TaskId not found, expired or not a veo-3-1 task.",
    "data": None,
}


async def submit(sandbox: httpx.AsyncClient, **changes: Any) -> str:
    response = await sandbox.post(f"{API}/generateTask/veo-3-1", json={"input": INPUT | changes})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"]["taskId"]
    return task_id


async def extend(sandbox: httpx.AsyncClient, source: str) -> httpx.Response:
    body = {"input": {"taskId": source, "mode": "fast", "prompt": "continue the chase"}}
    return await sandbox.post(f"{API}/generateTask/veo-3-1-extend", json=body)


async def status(sandbox: httpx.AsyncClient, task_id: str, model: str = "veo-3-1") -> Any:
    response = await sandbox.get(f"{API}/statusTask/{model}", params={"taskId": task_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (200, "success")
    return body["data"]


async def test_submit_envelope(sandbox: httpx.AsyncClient) -> None:
    """A generation answers ``{code:200, message:"success", data:{taskId}}``."""
    response = await sandbox.post(f"{API}/generateTask/veo-3-1", json={"input": INPUT})
    body = response.json()
    assert (response.status_code, body["code"], body["message"]) == (200, 200, "success")
    assert body["data"]["taskId"].startswith("task_")


async def test_status_runs_to_success_with_a_result_json_string(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """pending, then processing (never a progress field), then success with ms times."""
    created_ms = int(clock.now * 1000)
    task_id = await submit(sandbox)
    assert await status(sandbox, task_id) == {
        "taskId": task_id,
        "state": "pending",
        "createTime": created_ms,
    }
    clock.advance(5)
    assert (await status(sandbox, task_id))["state"] == "processing"
    clock.advance(5)
    data = await status(sandbox, task_id)
    assert data["state"] == "success"
    assert "progress" not in data
    assert isinstance(data["resultJson"], str)
    [url] = json.loads(data["resultJson"])["resultUrls"]
    assert (await sandbox.get(url)).status_code == 200
    assert (data["createTime"], data["completeTime"]) == (created_ms, created_ms + 10_000)
    assert data["costTime"] == 10_000


async def test_failure_carries_fail_code(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A content-policy failure is HTTP 200 with state failed and ``failCode``/``failMsg``."""
    await configure(content_policy_rate=1.0)
    task_id = await submit(sandbox)
    clock.advance(10)
    data = await status(sandbox, task_id)
    assert (data["state"], data["failCode"]) == ("failed", "CONTENT_VIOLATION")
    assert data["failMsg"]
    assert "resultJson" not in data


async def test_no_output_success_has_no_urls(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A no-output success reports an empty ``resultUrls``."""
    await configure(no_output_rate=1.0)
    task_id = await submit(sandbox)
    clock.advance(10)
    assert json.loads((await status(sandbox, task_id))["resultJson"]) == {"resultUrls": []}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "input"),
        ({"input": INPUT | {"prompt": None}}, "input.prompt"),
        ({"input": INPUT | {"prompt": "x" * 10_001}}, "input.prompt"),
        ({"input": INPUT | {"mode": "turbo"}}, "input.mode"),
        ({"input": INPUT | {"generationType": "VIDEO_2_VIDEO"}}, "input.generationType"),
        ({"input": INPUT | {"generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO"}}, "image_urls"),
        ({"input": INPUT | {"generationType": "REFERENCE_2_VIDEO"}}, "image_urls"),
        (
            {
                "input": INPUT
                | {"generationType": "REFERENCE_2_VIDEO", "mode": "quality", "image_urls": ["u"]}
            },
            "fast",
        ),
        ({"input": INPUT | {"aspect_ratio": "1:1"}}, "input.aspect_ratio"),
        ({"input": INPUT, "request_type": "callback"}, "callback_url"),
        ({"input": INPUT, "request_type": "webhook"}, "request_type"),
        ({"input": INPUT, "provider": "cheapest"}, "provider"),
    ],
)
async def test_invalid_generation_is_refused(
    sandbox: httpx.AsyncClient, body: dict[str, Any], needle: str
) -> None:
    """Invalid bodies answer 400 ``Invalid request`` with the reason in ``data.error``."""
    if "input" in body:
        body = body | {"input": {k: v for k, v in body["input"].items() if v is not None}}
    response = await sandbox.post(f"{API}/generateTask/veo-3-1", json=body)
    assert response.status_code == 400
    reply = response.json()
    assert (reply["code"], reply["message"]) == (400, "Invalid request")
    assert needle in reply["data"]["error"]


async def test_documented_defaults_fill_absent_fields(
    sandbox: httpx.AsyncClient, app: Starlette, clock: Clock
) -> None:
    """Without mode and generationType a generation is TEXT_2_VIDEO in quality mode, and an
    extend without mode is fast, as apixo's docs default them."""
    response = await sandbox.post(
        f"{API}/generateTask/veo-3-1", json={"input": {"prompt": "a city at night"}}
    )
    assert response.status_code == 200, response.text
    source = response.json()["data"]["taskId"]
    clock.advance(10)
    body = {"input": {"taskId": source, "prompt": "continue the chase"}}
    response = await sandbox.post(f"{API}/generateTask/veo-3-1-extend", json=body)
    assert response.status_code == 200, response.text
    child = response.json()["data"]["taskId"]
    tasks = app.state.sandbox.tasks
    assert tasks.get("apixo", source).params == {"mode": "quality"}
    assert tasks.get("apixo", child).params == {"mode": "fast"}


async def test_image_modes_accept_images(sandbox: httpx.AsyncClient) -> None:
    """Image generation types with 1..2 or 1..3 images are accepted."""
    urls = ["https://x.test/a.png", "https://x.test/b.png"]
    await submit(sandbox, generationType="FIRST_AND_LAST_FRAMES_2_VIDEO", image_urls=urls)
    await submit(sandbox, generationType="REFERENCE_2_VIDEO", image_urls=urls, aspect_ratio="16:9")


async def test_extend_of_a_finished_base(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """An extend returns an ``extend_task_`` id polled under ``veo-3-1-extend``."""
    source = await submit(sandbox)
    clock.advance(10)
    response = await extend(sandbox, source)
    assert response.status_code == 200
    task_id = response.json()["data"]["taskId"]
    assert task_id.startswith("extend_task_")
    clock.advance(10)
    assert (await status(sandbox, task_id, "veo-3-1-extend"))["state"] == "success"
    wrong_path = await sandbox.get(f"{API}/statusTask/veo-3-1", params={"taskId": task_id})
    assert wrong_path.status_code == 404


async def test_extend_refuses_unknown_expired_and_extended_sources(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """Unknown sources, extends of extends and expired sources get the documented 400."""
    response = await extend(sandbox, "task_unknown")
    assert (response.status_code, response.json()) == (400, BAD_SOURCE)
    await configure(url_ttl_s=60)
    source = await submit(sandbox)
    clock.advance(10)
    child = (await extend(sandbox, source)).json()["data"]["taskId"]
    clock.advance(10)
    assert (await extend(sandbox, child)).json() == BAD_SOURCE
    clock.advance(60)
    assert (await extend(sandbox, source)).json() == BAD_SOURCE


async def test_extend_refuses_an_unfinished_source(sandbox: httpx.AsyncClient) -> None:
    """A base still running cannot be extended yet."""
    source = await submit(sandbox)
    response = await extend(sandbox, source)
    assert response.status_code == 400
    assert "processing" in response.json()["message"]


@pytest.mark.parametrize("missing", ["taskId", "prompt"])
async def test_invalid_extend_is_refused(sandbox: httpx.AsyncClient, missing: str) -> None:
    """An extend missing a required input field answers 400."""
    data = {"taskId": "task_x", "mode": "fast", "prompt": "p"}
    del data[missing]
    response = await sandbox.post(f"{API}/generateTask/veo-3-1-extend", json={"input": data})
    assert response.status_code == 400
    assert f"input.{missing}" in response.json()["data"]["error"]


async def test_status_lookup_errors(sandbox: httpx.AsyncClient) -> None:
    """Unknown model path and unknown task are 404; a missing taskId is 400."""
    task_id = await submit(sandbox)
    assert (
        await sandbox.get(f"{API}/statusTask/veo-9", params={"taskId": task_id})
    ).status_code == 404
    assert (
        await sandbox.get(f"{API}/statusTask/veo-3-1", params={"taskId": "x"})
    ).status_code == 404
    missing = await sandbox.get(f"{API}/statusTask/veo-3-1")
    assert (missing.status_code, missing.json()["code"]) == (400, 400)
