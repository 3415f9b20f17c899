"""apifree emulation: queued -> in_progress -> completed, compat aliases, remix rules."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clock import Clock
from tests.sandbox.conftest import Configure

BASE = {"model": "veo-3.1", "prompt": "snow on a mountain"}


async def submit(sandbox: httpx.AsyncClient, root: str = "/apifree/v1/videos") -> str:
    response = await sandbox.post(root, json=BASE)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


async def fetch(sandbox: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    response = await sandbox.get(f"/apifree/v1/videos/{video_id}")
    assert response.status_code == 200
    video: dict[str, Any] = response.json()
    return video


async def test_status_runs_queued_in_progress_completed(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """The status moves through the OpenAI vocabulary and ends with a ``video_url``."""
    video_id = await submit(sandbox)
    assert (await fetch(sandbox, video_id))["status"] == "queued"
    clock.advance(5)
    running = await fetch(sandbox, video_id)
    assert running["status"] == "in_progress"
    assert "video_url" not in running
    clock.advance(5)
    done = await fetch(sandbox, video_id)
    assert (done["status"], done["progress"], done["object"]) == ("completed", 100, "video")
    assert (await sandbox.get(done["video_url"])).status_code == 200


@pytest.mark.parametrize("root", ["/apifree/v1/videos", "/apifree/v1/openai/videos"])
async def test_compat_routes_behave_the_same(
    sandbox: httpx.AsyncClient, clock: Clock, root: str
) -> None:
    """Both route families create, poll and remix the same tasks."""
    video_id = await submit(sandbox, root)
    clock.advance(10)
    assert (await sandbox.get(f"{root}/{video_id}")).json()["status"] == "completed"
    remix = await sandbox.post(f"{root}/{video_id}/remix", json={"prompt": "at dawn"})
    assert remix.status_code == 200
    assert remix.json()["model"] == BASE["model"]
    assert remix.json()["status"] == "queued"


@pytest.mark.parametrize("missing", ["prompt", "model"])
async def test_generation_needs_prompt_and_model(sandbox: httpx.AsyncClient, missing: str) -> None:
    """A generation missing ``prompt`` or ``model`` answers an OpenAI-style 400."""
    body = {k: v for k, v in BASE.items() if k != missing}
    response = await sandbox.post("/apifree/v1/videos", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == missing


async def test_remix_rules(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """Missing prompt is 400, unknown source 404, unfinished source 400, model is optional."""
    video_id = await submit(sandbox)
    remix_url = f"/apifree/v1/videos/{video_id}/remix"
    assert (await sandbox.post(remix_url, json={"prompt": "x"})).status_code == 400
    unknown = await sandbox.post("/apifree/v1/videos/video_x/remix", json={"prompt": "x"})
    assert unknown.status_code == 404
    clock.advance(10)
    assert (await sandbox.post(remix_url, json={})).json()["error"]["param"] == "prompt"
    remix = await sandbox.post(remix_url, json={"prompt": "x", "model": "veo-other"})
    assert remix.json()["model"] == "veo-other"
    assert remix.json()["id"].startswith("video_remix_")


async def test_no_output_success_falls_back_to_content(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A no-output success has no ``video_url`` while ``/content`` still serves the video."""
    await configure(no_output_rate=1.0)
    video_id = await submit(sandbox)
    clock.advance(10)
    assert "video_url" not in await fetch(sandbox, video_id)
    content = await sandbox.get(f"/apifree/v1/videos/{video_id}/content")
    assert (content.status_code, content.headers["content-type"]) == (200, "video/mp4")


async def test_failure_carries_an_error(
    sandbox: httpx.AsyncClient, clock: Clock, configure: Configure
) -> None:
    """A content-policy failure ends ``failed`` with an error object."""
    await configure(content_policy_rate=1.0)
    video_id = await submit(sandbox)
    clock.advance(10)
    video = await fetch(sandbox, video_id)
    assert (video["status"], video["error"]["code"]) == ("failed", "content_policy_violation")


async def test_chains_stop_at_twenty_extends(
    sandbox: httpx.AsyncClient, configure: Configure
) -> None:
    """A chain may grow to 20 extends; extending the 20th is refused."""
    await configure(task_seconds=0)
    video_id = await submit(sandbox)
    for _ in range(20):
        response = await sandbox.post(f"/apifree/v1/videos/{video_id}/remix", json={"prompt": "on"})
        assert response.status_code == 200
        video_id = response.json()["id"]
    response = await sandbox.post(f"/apifree/v1/videos/{video_id}/remix", json={"prompt": "on"})
    assert response.status_code == 400
