"""apimart emulation: envelopes, validation, status progression, result shapes and remix rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clock import Clock
from tests.sandbox.conftest import Configure

GENERATE = "/apimart/v1/videos/generations"
BASE = {"model": "veo3.1-fast", "prompt": "a cat on the grass"}


async def submit(sandbox: httpx.AsyncClient, **changes: Any) -> str:
    response = await sandbox.post(GENERATE, json=BASE | changes)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["data"][0]["task_id"]
    return task_id


async def status(sandbox: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await sandbox.get(f"/apimart/v1/tasks/{task_id}")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_submit_envelope(sandbox: httpx.AsyncClient) -> None:
    """A generation answers code 200 with ``data`` a list holding a submitted ``task_01`` id."""
    response = await sandbox.post(GENERATE, json=BASE)
    body = response.json()
    assert response.status_code == 200
    assert body["code"] == 200
    [entry] = body["data"]
    assert entry["status"] == "submitted"
    assert entry["task_id"].startswith("task_01")
    assert len(entry["task_id"]) == len("task_") + 26


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"model": None}, "model"),
        ({"model": "veo3"}, "model"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"duration": "8"}, "duration"),
        ({"duration": 6}, "duration"),
        ({"model": "veo3.1-fast-official", "duration": 5}, "duration"),
        ({"enhance_prompt": False}, "enhance_prompt"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"resolution": "2160p"}, "resolution"),
        ({"seed": -1}, "seed"),
        ({"sample_count": 5}, "sample_count"),
        ({"generate_audio": "yes"}, "generate_audio"),
        ({"person_generation": "allow_all"}, "person_generation"),
        ({"last_frame_image": "https://x.test/b.png"}, "last_frame_image"),
        ({"image_urls": "https://x.test/a.png"}, "image_urls"),
        ({"webhook": "ftp://x.test"}, "webhook"),
    ],
)
async def test_invalid_generation_is_refused(
    sandbox: httpx.AsyncClient, changes: dict[str, Any], needle: str
) -> None:
    """Each documented invalid generation gets 400 ``invalid_request_error`` naming the field."""
    body = {k: v for k, v in (BASE | changes).items() if v is not None}
    response = await sandbox.post(GENERATE, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]


async def test_non_object_body_is_refused(sandbox: httpx.AsyncClient) -> None:
    """A body that is not a JSON object is a 400 in apimart's error shape."""
    response = await sandbox.post(GENERATE, content=b"[1]")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "changes",
    [
        {"enhance_prompt": True, "duration": 8},
        {"model": "veo3.1-quality-official", "duration": 4, "resolution": "4K", "seed": 0},
        {"first_frame_image": "https://x.test/a.png", "last_frame_image": "https://x.test/b.png"},
        {"image_urls": ["https://x.test/a.png"], "aspect_ratio": "9:16"},
    ],
)
async def test_valid_variants_are_accepted(
    sandbox: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    """Documented optional fields with allowed values are accepted."""
    assert (await sandbox.post(GENERATE, json=BASE | changes)).status_code == 200


async def test_status_progresses_with_time(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """pending at first, processing with rising progress, then completed at 100."""
    task_id = await submit(sandbox)
    first = await status(sandbox, task_id)
    assert (first["status"], first["progress"]) == ("pending", 0)
    assert "result" not in first
    clock.advance(3)
    early = await status(sandbox, task_id)
    clock.advance(4)
    late = await status(sandbox, task_id)
    assert early["status"] == late["status"] == "processing"
    assert 0 < early["progress"] < late["progress"] < 100
    clock.advance(3)
    done = await status(sandbox, task_id)
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["created"] == int(clock.now - 10)
    assert done["completed"] == int(clock.now)
    assert done["actual_time"] == 10


async def test_result_url_alternates_between_string_and_list(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """Consecutive tasks report ``url`` as a string and as a list, with ``expires_at`` 24 h on."""
    first, second = await submit(sandbox), await submit(sandbox)
    clock.advance(10)
    shapes = []
    for task_id in (first, second):
        [video] = (await status(sandbox, task_id))["result"]["videos"]
        shapes.append(type(video["url"]))
        assert video["expires_at"] == int(clock.now + 86_400)
        url = video["url"] if isinstance(video["url"], str) else video["url"][0]
        assert (await sandbox.get(url)).status_code == 200
    assert set(shapes) == {str, list}


async def test_content_policy_failure(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """With content_policy_rate 1 a task ends failed with an error and no result."""
    await configure(content_policy_rate=1.0)
    task_id = await submit(sandbox)
    clock.advance(10)
    data = await status(sandbox, task_id)
    assert data["status"] == "failed"
    assert data["error"]["code"] == "content_policy_violation"
    assert "result" not in data


async def test_no_output_success(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """With no_output_rate 1 a completed task carries an empty video list."""
    await configure(no_output_rate=1.0)
    task_id = await submit(sandbox)
    clock.advance(10)
    data = await status(sandbox, task_id)
    assert data["status"] == "completed"
    assert data["result"] == {"videos": []}


async def test_unknown_task_status_is_404(sandbox: httpx.AsyncClient) -> None:
    """Polling an unknown id answers 404 ``not_found_error``."""
    response = await sandbox.get("/apimart/v1/tasks/task_01NOPE")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


async def remix(sandbox: httpx.AsyncClient, source: str, **changes: Any) -> httpx.Response:
    body = {"model": "veo3.1-fast", "prompt": "the cat keeps running"} | changes
    return await sandbox.post(f"/apimart/v1/videos/{source}/remix", json=body)


async def test_remix_of_a_completed_task(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """A remix of a completed task answers the submit envelope with a new task id."""
    source = await submit(sandbox)
    clock.advance(10)
    response = await remix(sandbox, source, raw=False, resolution="720p")
    assert response.status_code == 200
    [entry] = response.json()["data"]
    assert entry["status"] == "submitted"
    assert entry["task_id"] != source
    [task] = [t for t in (await sandbox.get("/_sandbox/tasks")).json() if t["kind"] == "extend"]
    assert task["source_task_id"] == source


async def test_remix_of_unknown_task_is_404(sandbox: httpx.AsyncClient) -> None:
    """An unknown source answers 404 "Video not found"."""
    response = await remix(sandbox, "task_01UNKNOWN")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": 404,
        "message": "Video not found",
        "type": "not_found_error",
    }


async def test_remix_of_unfinished_task_is_refused(sandbox: httpx.AsyncClient) -> None:
    """A source that has not reached success is refused with 400."""
    source = await submit(sandbox)
    response = await remix(sandbox, source)
    assert response.status_code == 400
    assert "success" in response.json()["error"]["message"]


async def test_remix_with_another_model_is_refused(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """The remix model must equal the source's model."""
    source = await submit(sandbox)
    clock.advance(10)
    response = await remix(sandbox, source, model="veo3.1-quality")
    assert response.status_code == 400
    assert "model" in response.json()["error"]["message"]


async def test_remix_of_official_task_is_refused(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """``-official`` tasks cannot be remixed: their model is not a remix model."""
    source = await submit(sandbox, model="veo3.1-fast-official")
    clock.advance(10)
    assert (await remix(sandbox, source, model="veo3.1-fast-official")).status_code == 400
    assert (await remix(sandbox, source)).status_code == 400


async def test_remix_of_expired_task_is_404(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """Once the source's result link expired, the source is gone."""
    await configure(url_ttl_s=60)
    source = await submit(sandbox)
    clock.advance(70)
    assert (await remix(sandbox, source)).status_code == 404


@pytest.mark.parametrize(
    "changes", [{"prompt": None}, {"model": None}, {"raw": "no"}, {"resolution": "4K"}]
)
async def test_invalid_remix_is_refused(
    sandbox: httpx.AsyncClient, clock: Clock, changes: dict[str, Any]
) -> None:
    """Missing or mistyped remix fields answer 400."""
    source = await submit(sandbox)
    clock.advance(10)
    body = {"model": "veo3.1-fast", "prompt": "more"} | changes
    body = {k: v for k, v in body.items() if v is not None}
    response = await sandbox.post(f"/apimart/v1/videos/{source}/remix", json=body)
    assert response.status_code == 400
