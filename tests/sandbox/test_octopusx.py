"""octopusx emulation: OpenAI-style objects, placeholders while running, remix and content."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orchestrator.sandbox.video import code_for, read_marks
from tests.clock import Clock
from tests.sandbox.conftest import Configure

VIDEOS = "/octopusx/v1/videos"
BASE = {"model": "veo_3_1-fast", "prompt": "a cow on a hill"}


async def submit(sandbox: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await sandbox.post(VIDEOS, json=BASE | changes)
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


async def fetch(sandbox: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    response = await sandbox.get(f"{VIDEOS}/{video_id}")
    assert response.status_code == 200
    video: dict[str, Any] = response.json()
    return video


async def test_submit_answers_a_queued_video_object(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """A generation answers the documented object with a string ``seconds``."""
    video = await submit(sandbox, size="720x1280")
    assert video["id"].startswith("video_")
    assert video | {"id": ""} == {
        "id": "",
        "object": "video",
        "model": "veo_3_1-fast",
        "status": "queued",
        "progress": 0,
        "created_at": int(clock.now),
        "seconds": "8",
        "size": "720x1280",
    }


@pytest.mark.parametrize(
    ("changes", "seconds"),
    [({"seconds": 6}, "6"), ({"duration": "4"}, "4"), ({"metadata": {"durationSeconds": 6}}, "6")],
)
async def test_duration_aliases(
    sandbox: httpx.AsyncClient, changes: dict[str, Any], seconds: str
) -> None:
    """``seconds``, ``duration`` and ``metadata.durationSeconds`` all set the string seconds."""
    assert (await submit(sandbox, **changes))["seconds"] == seconds


async def test_running_object_has_placeholders(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """While running: ``completed_at`` 0, empty error strings and an empty ``video_url``."""
    video_id = (await submit(sandbox))["id"]
    clock.advance(5)
    video = await fetch(sandbox, video_id)
    assert video["status"] == "processing"
    assert 0 < video["progress"] < 100
    assert video["completed_at"] == 0
    assert video["error"] == {"message": "", "code": ""}
    assert video["video_url"] == ""
    assert video["remixed_from_video_id"] == ""


async def test_completed_object_has_a_working_url(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """Once completed: ``video_url`` downloads the MP4 and ``expires_at`` is 24 h later."""
    video_id = (await submit(sandbox))["id"]
    clock.advance(10)
    video = await fetch(sandbox, video_id)
    assert (video["status"], video["progress"]) == ("completed", 100)
    assert video["completed_at"] == int(clock.now)
    assert video["expires_at"] == int(clock.now + 86_400)
    download = await sandbox.get(video["video_url"])
    assert read_marks(download.content) == [(code_for("octopusx", video_id), i) for i in range(64)]


async def test_failed_object_carries_the_error(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A content-policy failure fills ``error`` and leaves ``video_url`` empty."""
    await configure(content_policy_rate=1.0)
    video_id = (await submit(sandbox))["id"]
    clock.advance(10)
    video = await fetch(sandbox, video_id)
    assert video["status"] == "failed"
    assert video["error"]["code"] == "content_policy_violation"
    assert video["video_url"] == ""


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"model": None}, "model"),
        ({"model": "sora-2"}, "model"),
        ({"prompt": None}, "prompt"),
        ({"size": "1920x1080"}, "size"),
        ({"seconds": "5"}, "seconds"),
        ({"metadata": "x"}, "metadata"),
        ({"input_reference": 3}, "input_reference"),
    ],
)
async def test_invalid_generation_is_refused(
    sandbox: httpx.AsyncClient, changes: dict[str, Any], param: str
) -> None:
    """Invalid fields answer 400 with an OpenAI-style error naming the parameter."""
    body = {k: v for k, v in (BASE | changes).items() if v is not None}
    response = await sandbox.post(VIDEOS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert set(error) == {"message", "type", "param", "code"}


async def remix(sandbox: httpx.AsyncClient, source: str, **changes: Any) -> httpx.Response:
    body = {"model": "veo_3_1-extend", "prompt": "the cow flies to sea"} | changes
    body = {k: v for k, v in body.items() if v is not None}
    return await sandbox.post(f"{VIDEOS}/{source}/remix", json=body)


async def test_remix_names_its_source(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """A remix answers a queued object pointing back at the source video."""
    source = (await submit(sandbox, size="720x1280"))["id"]
    clock.advance(10)
    response = await remix(sandbox, source)
    assert response.status_code == 200
    video = response.json()
    assert video["remixed_from_video_id"] == source
    assert (video["model"], video["status"], video["quality"]) == ("veo_3_1-extend", "queued", "")
    assert video["size"] == "720x1280"
    clock.advance(10)
    assert (await fetch(sandbox, video["id"]))["remixed_from_video_id"] == source


@pytest.mark.parametrize("missing", ["prompt", "model"])
async def test_remix_needs_prompt_and_model(
    sandbox: httpx.AsyncClient, clock: Clock, missing: str
) -> None:
    """A remix without ``prompt`` or ``model`` answers 400."""
    source = (await submit(sandbox))["id"]
    clock.advance(10)
    response = await remix(sandbox, source, **{missing: None})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == missing


async def test_remix_source_rules(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """Unknown and expired sources are 404; running and failed sources are 400."""
    await configure(url_ttl_s=60)
    assert (await remix(sandbox, "video_unknown")).status_code == 404
    running = (await submit(sandbox))["id"]
    refused = await remix(sandbox, running)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "video_not_ready")
    await configure(content_policy_rate=1.0)
    failed = (await submit(sandbox))["id"]
    clock.advance(10)
    assert (await remix(sandbox, failed)).status_code == 400
    assert (await remix(sandbox, running)).status_code == 200
    clock.advance(60)
    assert (await remix(sandbox, running)).status_code == 404


async def test_content_route_serves_a_no_output_success(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A success with an empty ``video_url`` still downloads through ``/content``."""
    await configure(no_output_rate=1.0)
    video_id = (await submit(sandbox))["id"]
    assert (await sandbox.get(f"{VIDEOS}/{video_id}/content")).status_code == 404
    clock.advance(10)
    assert (await fetch(sandbox, video_id))["video_url"] == ""
    response = await sandbox.get(f"{VIDEOS}/{video_id}/content")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert read_marks(response.content) == [(code_for("octopusx", video_id), i) for i in range(64)]


async def test_content_route_needs_the_key(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """``/content`` without a Bearer key answers 401."""
    video_id = (await submit(sandbox))["id"]
    clock.advance(10)
    response = await sandbox.get(f"{VIDEOS}/{video_id}/content", headers={"authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
