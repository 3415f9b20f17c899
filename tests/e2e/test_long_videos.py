"""Long videos end to end, over real HTTP: the sandbox makes real videos whose frames carry
(task code, frame number) marks, reelay keeps them, extracts last frames for continuations
(which the sandbox fetches from the public receiver, as a provider would), and answers one
whole MP4 per branch. The marks prove order, and that no frame repeats at a seam."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.runtime import Runtime, open_runtime
from orchestrator.sandbox import SandboxConfig
from orchestrator.sandbox.video import read_marks
from orchestrator.settings import load_settings
from tests.e2e.helpers import provider_overrides
from tests.eventually import eventually
from tests.loopback import free_port, running_sandbox, serve_app

FPS = 8
BASE_FRAMES = 8 * FPS
EXTEND_FRAMES = 7 * FPS


@dataclass
class Rig:
    rt: Runtime
    api: httpx.AsyncClient
    sandbox: str


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, config: SandboxConfig, **extra: Any) -> AsyncIterator[Rig]:
    """reelay (engine, downloads, media jobs, API and public receiver) on a sandbox;
    ``extra``: more settings."""
    async with running_sandbox(config) as sandbox:
        public_port = free_port()
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
            data_dir=tmp_path / "data",
            public_url=f"http://127.0.0.1:{public_port}",
            _env_file=None,
            **provider_overrides(sandbox),
            **extra,
        )
        async with (
            open_runtime(settings) as rt,
            serve_app(rt.api_app, lifespan="off") as api_url,
            serve_app(rt.public_app, lifespan="off", port=public_port),
        ):
            loops = [rt.engine.run(), rt.downloader.run(), rt.media.run()]
            tasks = [asyncio.create_task(loop) for loop in loops]
            try:
                async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
                    yield Rig(rt, api, sandbox)
            finally:
                rt.engine.stop()
                rt.downloader.stop()
                rt.media.stop()
                await asyncio.gather(*tasks)


async def finished(api: httpx.AsyncClient, pid: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        p: dict[str, Any] = (await api.get(f"/v1/pipelines/{pid}")).json()
        return p if p["status"] in ("succeeded", "failed", "cancelled") else None

    return await eventually(done, within=120, what=f"pipeline {pid} to finish", every=0.05)


async def whole_video(api: httpx.AsyncClient, pid: str, leaf: int) -> httpx.Response:
    async def made() -> httpx.Response | None:
        answer = await api.get(f"/v1/pipelines/{pid}/video", params={"leaf": leaf})
        if answer.status_code == 202:
            return None
        return answer

    return await eventually(made, within=120, what=f"the whole video to step {leaf}", every=0.05)


async def described(api: httpx.AsyncClient, pid: str) -> dict[int, dict[str, Any]]:
    listed = (await api.get(f"/v1/pipelines/{pid}/videos")).json()["videos"]
    return {v["leaf"]: v for v in listed}


def no_repeats(marks: list[tuple[int, int]]) -> None:
    """Every frame is readable, each segment counts up by one, and no frame repeats."""
    assert (-1, -1) not in marks
    for before, after in itertools.pairwise(marks):
        assert before != after, f"frame {before} repeats"
        if before[0] == after[0]:
            assert after[1] == before[1] + 1, f"{before} then {after}: out of order"


async def test_a_four_hop_apixo_chain_ends_as_one_video(tmp_path: Path) -> None:
    """apixo extends only a base: one extend, then three continuations from each last frame.
    The whole video is the extend's file (which holds the base) and the continuations, their
    repeated first frames dropped, streams copied."""
    async with rig(tmp_path, SandboxConfig(task_seconds=0.2)) as r:
        body = {
            "provider": "apixo",
            "tier": "fast",
            "prompt": "a kite",
            "extends": [
                {"prompt": "higher"},
                {"prompt": "the string snaps", "mode": "continue"},
                {"prompt": "over the sea", "mode": "continue"},
                {"prompt": "onto a boat", "mode": "continue"},
            ],
        }
        created = await r.api.post("/v1/pipelines", json=body)
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        assert [s["mode"] for s in created.json()["steps"]] == [
            None,
            "extend",
            "continue",
            "continue",
            "continue",
        ]
        pipeline = await finished(r.api, pid)
        assert pipeline["status"] == "succeeded"
        answer = await whole_video(r.api, pid, 4)
        first_continuation = await r.api.get(f"/v1/pipelines/{pid}/steps/2/video")
        extend_file = await r.api.get(f"/v1/pipelines/{pid}/steps/1/video")
        videos = await described(r.api, pid)
        events = (await r.api.get(f"/v1/pipelines/{pid}/events")).json()["items"]

    assert answer.status_code == 200, answer.text
    assert answer.headers["reelay-method"] == "copy"
    assert answer.headers["reelay-partial"] == "false"
    marks = read_marks(answer.content)
    no_repeats(marks)
    assert len(marks) == BASE_FRAMES + EXTEND_FRAMES + 3 * (BASE_FRAMES - 1)
    # The continuation's first frame is the extend's last picture: the sandbox fetched it from
    # the frame URL reelay published on its public listener.
    assert read_marks(first_continuation.content)[0] == read_marks(extend_file.content)[-1]
    video = videos[4]
    assert video["segments"] == [
        {"step": 1, "drop_first_frame": False},
        {"step": 2, "drop_first_frame": True},
        {"step": 3, "drop_first_frame": True},
        {"step": 4, "drop_first_frame": True},
    ]
    assert video["dropped_frames"] == 3
    duration = float(answer.headers["reelay-duration"])
    assert abs(duration - len(marks) / FPS) <= 1 / FPS
    assert [e["type"] for e in events].count("video.stitched") == 1
    assert [e["type"] for e in events].count("frame.extracted") == 3


async def test_extends_that_return_only_their_new_part_are_joined(tmp_path: Path) -> None:
    """apimart's raw extends hold only the new 7 s: the whole video joins all three files.
    Without raw, the last extend's file already holds everything: it is the answer."""
    async with rig(tmp_path, SandboxConfig(task_seconds=0.2)) as r:
        raw = {"provider_options": {"raw": True}}
        bodies = [
            {
                "provider": "apimart",
                "tier": "fast",
                "prompt": "a fox",
                "extends": [{"prompt": "runs", **raw}, {"prompt": "leaps", **raw}],
            },
            {
                "provider": "apimart",
                "tier": "fast",
                "prompt": "a fox",
                "extends": [{"prompt": "runs"}, {"prompt": "leaps"}],
            },
        ]
        ids = [(await r.api.post("/v1/pipelines", json=b)).json()["id"] for b in bodies]
        for pid in ids:
            assert (await finished(r.api, pid))["status"] == "succeeded"
        joined, whole = [await whole_video(r.api, pid, 2) for pid in ids]
        ranged = await r.api.get(
            f"/v1/pipelines/{ids[0]}/video", params={"leaf": 2}, headers={"Range": "bytes=0-99"}
        )
        joined_info = (await described(r.api, ids[0]))[2]
        # The retention policy deleted it: a clear 404, not a broken stream.
        [job] = [j for j in await r.rt.store.media_jobs(ids[0]) if j.kind == "video"]
        await r.rt.storage.delete(job.result["key"])
        pruned = await r.api.get(f"/v1/pipelines/{ids[0]}/video", params={"leaf": 2})

    assert joined.headers["reelay-method"] == "copy"
    assert joined_info["segments"] == [
        {"step": 0, "drop_first_frame": False},
        {"step": 1, "drop_first_frame": False},
        {"step": 2, "drop_first_frame": False},
    ]
    assert whole.headers["reelay-method"] == "whole"
    expected = BASE_FRAMES + 2 * EXTEND_FRAMES
    for answer in (joined, whole):
        marks = read_marks(answer.content)
        no_repeats(marks)
        assert len(marks) == expected
    assert ranged.status_code == 206
    assert ranged.content == joined.content[:100]
    assert pruned.status_code == 404
    assert "retention" in pruned.json()["error"]["message"]


async def test_a_failed_middle_step_leaves_a_partial_whole_video(tmp_path: Path) -> None:
    async with rig(tmp_path, SandboxConfig(task_seconds=1.0)) as r:
        body = {
            "provider": "octopusx",
            "tier": "fast",
            "prompt": "a boat",
            "extends": [{"prompt": "drifts"}, {"prompt": "sinks"}],
        }
        pid = (await r.api.post("/v1/pipelines", json=body)).json()["id"]

        async def base_sent() -> bool:
            p = (await r.api.get(f"/v1/pipelines/{pid}")).json()
            return p["steps"][0]["provider_task_id"] is not None

        await eventually(base_sent, within=60, what="the base submit", every=0.02)
        # The base's outcome was drawn when it was accepted; every task after this fails.
        async with httpx.AsyncClient() as sandbox:
            answer = await sandbox.post(
                r.sandbox + "/_sandbox/config", json={"content_policy_rate": 1.0}
            )
            assert answer.status_code == 200
        pipeline = await finished(r.api, pid)
        answer = await whole_video(r.api, pid, 2)
        videos = await described(r.api, pid)
        running_leaf = await r.api.get(f"/v1/pipelines/{pid}/video", params={"leaf": 9})

    assert [s["status"] for s in pipeline["steps"]] == ["succeeded", "failed", "cancelled"]
    assert answer.status_code == 200
    assert answer.headers["reelay-partial"] == "true"
    assert answer.headers["reelay-upto"] == "0"
    assert len(read_marks(answer.content)) == BASE_FRAMES
    assert videos[2]["partial"] is True
    assert "last that succeeded" in videos[2]["message"]
    assert running_leaf.status_code == 400
    assert running_leaf.json()["error"]["fields"][0]["field"] == "leaf"


async def test_target_seconds_plans_and_runs_past_the_depth_limit(tmp_path: Path) -> None:
    async with rig(tmp_path, SandboxConfig(task_seconds=0.2)) as r:
        body = {"provider": "apixo", "tier": "fast", "prompt": "a comet", "target_seconds": 30}
        quote = await r.api.post("/v1/quotes", json=body)
        created = await r.api.post("/v1/pipelines", json=body)
        pid = created.json()["id"]
        assert created.json()["planned_seconds"] == 30.0
        assert [s["mode"] for s in created.json()["steps"]] == [
            None,
            "extend",
            "continue",
            "extend",
        ]
        assert (await finished(r.api, pid))["status"] == "succeeded"
        answer = await whole_video(r.api, pid, 3)

    assert quote.status_code == 200
    assert [s["mode"] for s in quote.json()["steps"]] == [None, "extend", "continue", "extend"]
    assert quote.json()["planned_seconds"] == 30.0
    marks = read_marks(answer.content)
    no_repeats(marks)
    # The second extend's file holds its continuation: the extend's 15 s, then the second
    # chain's 15 s less the repeated frame.
    assert len(marks) == 2 * (BASE_FRAMES + EXTEND_FRAMES) - 1


async def test_a_branch_that_has_not_finished_is_409(tmp_path: Path) -> None:
    async with rig(tmp_path, SandboxConfig(task_seconds=60)) as r:
        body = {"provider": "apixo", "tier": "fast", "prompt": "slow"}
        pid = (await r.api.post("/v1/pipelines", json=body)).json()["id"]
        answer = await r.api.get(f"/v1/pipelines/{pid}/video")
    assert answer.status_code == 409
    assert "its whole video is made once it finishes" in answer.json()["error"]["message"]


@pytest.mark.parametrize("provider", ["apifree"])
async def test_a_provider_that_cannot_continue_is_refused_naming_the_step(
    tmp_path: Path, provider: str
) -> None:
    async with rig(tmp_path, SandboxConfig(task_seconds=60)) as r:
        body = {
            "provider": provider,
            "model": "veo-3.1-fast",
            "prompt": "x",
            "extends": [{"prompt": "y", "mode": "continue"}],
        }
        answer = await r.api.post("/v1/pipelines", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"][0]["field"] == "extends[0].mode"


async def test_without_kept_videos_nothing_is_downloaded_and_continuations_are_refused(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, SandboxConfig(task_seconds=0.1), keep_videos=False) as r:
        body = {"provider": "apixo", "tier": "fast", "prompt": "a kite"}
        pid = (await r.api.post("/v1/pipelines", json=body)).json()["id"]
        pipeline = await finished(r.api, pid)
        continued = await r.api.post(
            f"/v1/pipelines/{pid}/extends", json={"prompt": "on", "mode": "continue"}
        )
        whole = await r.api.get(f"/v1/pipelines/{pid}/video")
        kept = await r.rt.store.step_artifacts([pid])
    assert pipeline["status"] == "succeeded"
    assert kept == []
    assert continued.status_code == 422
    assert "REELAY_KEEP_VIDEOS" in continued.json()["error"]["fields"][0]["message"]
    assert whole.status_code == 409
    assert "not kept here" in whole.json()["error"]["message"]


async def test_a_branch_where_nothing_succeeded_has_no_video_and_says_why(
    tmp_path: Path,
) -> None:
    """apixo reported success without a result URL: reelay fails the step, and the branch
    has no whole video to wait for."""
    async with rig(tmp_path, SandboxConfig(task_seconds=0.1, no_output_rate=1.0)) as r:
        body = {"provider": "apixo", "tier": "fast", "prompt": "nothing to see"}
        pid = (await r.api.post("/v1/pipelines", json=body)).json()["id"]
        pipeline = await finished(r.api, pid)
        video = (await described(r.api, pid))[0]
        answer = await r.api.get(f"/v1/pipelines/{pid}/video")
        jobs = await r.rt.store.media_jobs(pid)
    assert pipeline["status"] == "failed"
    assert video["state"] == "none"
    assert answer.status_code == 409
    assert "no step of this branch succeeded" in answer.json()["error"]["message"]
    assert jobs == []
