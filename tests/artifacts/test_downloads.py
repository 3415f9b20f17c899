"""Keeping results: downloads against the sandbox's expiring links and a loopback fault server."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from orchestrator.api import create_api_app
from orchestrator.artifacts.downloader import Downloader
from orchestrator.artifacts.local import LocalArtifactStorage
from orchestrator.artifacts.pictures import picture_signature
from orchestrator.artifacts.retention import Pruner
from orchestrator.common.transport import AiohttpTransport
from orchestrator.domain.artifacts import DownloadStatus
from orchestrator.engine import Engine
from orchestrator.operations import Operations
from orchestrator.plans import ExtendSpec, PipelineRequest
from orchestrator.providers.config import ProviderSettings
from orchestrator.sandbox import SandboxConfig, create_sandbox_app
from orchestrator.settings import Settings
from orchestrator.store import Store
from tests.clock import Clock
from tests.eventually import eventually
from tests.fakes import FakeProvider
from tests.loopback import SANDBOX_PREFIX, running_sandbox, serve_app

MP4 = (Path(__file__).parent / "sample.mp4").read_bytes()
SHA = hashlib.sha256(MP4).hexdigest()


def fault_server(state: dict[str, int], unstall: asyncio.Event) -> Starlette:
    async def ok(request: Request) -> Response:
        return Response(MP4, media_type="video/mp4")

    async def html(request: Request) -> Response:
        return Response("<html>expired</html>", media_type="text/html")

    async def undecodable(request: Request) -> Response:
        """Starts like an MP4 (an ftyp box) and holds nothing FFmpeg can decode."""
        return Response(MP4[:32] + b"\x00garbage" * 500, media_type="video/mp4")

    async def fake_video(request: Request) -> Response:
        return Response(b"<html>not a video at all</html>", media_type="video/mp4")

    async def gone(request: Request) -> Response:
        return Response(status_code=404)

    async def big(request: Request) -> Response:
        return Response(MP4[:12] + b"\0" * 200_000, media_type="video/mp4")

    async def flaky(request: Request) -> Response:
        """Closes the connection half-way through the body on the first request."""
        state["flaky"] = state.get("flaky", 0) + 1
        if state["flaky"] > 1:
            return Response(MP4, media_type="video/mp4")

        async def half() -> AsyncIterator[bytes]:
            yield MP4[: len(MP4) // 2]
            raise ConnectionResetError("dropped mid-body")

        return StreamingResponse(
            half(), media_type="video/mp4", headers={"content-length": str(len(MP4))}
        )

    async def stalled(request: Request) -> Response:
        """Sends the first KiB, then the rest only once ``POST /unstall`` came."""

        async def first_kib_then_wait() -> AsyncIterator[bytes]:
            yield MP4[:1024]
            state["mid_body"] = state.get("mid_body", 0) + 1  # the first KiB went out
            await unstall.wait()
            yield MP4[1024:]

        return StreamingResponse(
            first_kib_then_wait(),
            media_type="video/mp4",
            headers={"content-length": str(len(MP4))},
        )

    async def unstalling(request: Request) -> Response:
        unstall.set()
        return Response(status_code=204)

    async def progress(request: Request) -> Response:
        return JSONResponse(state)

    return Starlette(
        routes=[
            Route(f"/{name}", handler)
            for name, handler in (
                ("ok", ok),
                ("html", html),
                ("fake_video", fake_video),
                ("undecodable", undecodable),
                ("gone", gone),
                ("big", big),
                ("flaky", flaky),
                ("stalled", stalled),
            )
        ]
        + [Route("/unstall", unstalling, methods=["POST"]), Route("/progress", progress)]
    )


@dataclass
class Rig:
    store: Store
    ops: Operations
    engine: Engine
    fake: FakeProvider
    storage: LocalArtifactStorage
    client: httpx.AsyncClient
    root: Path

    def downloader(self, **kw: object) -> Downloader:
        return Downloader(
            self.store,
            self.storage,
            self.client,
            rng=random.Random(0),
            **kw,  # type: ignore[arg-type]
        )

    async def succeeded_pipeline(self, url: str, **body: object) -> str:
        """A pipeline whose steps succeeded with their video at ``url``."""
        self.fake.video_url = url
        view, _ = await self.ops.create(
            PipelineRequest.model_validate({"provider": "fake", "prompt": "a", **body})
        )
        for _ in range(10):
            await self.engine.run_once()
        assert (await self.ops.get(view.pipeline.id)).pipeline.status == "succeeded"
        return view.pipeline.id

    def files(self) -> list[Path]:
        return [p for p in self.root.rglob("*.mp4") if p.is_file()]


@pytest.fixture
async def rig(settings: Settings, store: Store, tmp_path: Path) -> AsyncIterator[Rig]:
    fake = FakeProvider()
    engine = Engine(
        store,
        {"fake": fake},
        settings,
        rng=random.Random(0),
        provider_settings={"fake": ProviderSettings(base_url="http://fake", first_poll_s=0)},
    )
    root = tmp_path / "artifacts"
    storage = LocalArtifactStorage(root)
    client = httpx.AsyncClient(transport=AiohttpTransport(), timeout=5, follow_redirects=True)
    yield Rig(store, Operations(store, {"fake": fake}), engine, fake, storage, client, root)
    await client.aclose()
    await storage.aclose()


@pytest.fixture
async def faults() -> AsyncIterator[str]:
    unstall = asyncio.Event()
    async with serve_app(fault_server({}, unstall), lifespan="off") as url:
        yield url
        unstall.set()  # the server cannot stop while a response is still stalled


async def apixo_video_link(sandbox: str) -> str:
    """The result link of a task submitted to the sandbox's apixo (finished at once)."""
    base = sandbox + SANDBOX_PREFIX["apixo"]
    auth = {"Authorization": "Bearer k"}
    async with httpx.AsyncClient() as client:
        created = await client.post(
            base + "/generateTask/veo-3-1",
            headers=auth,
            json={"input": {"mode": "fast", "prompt": "x", "generationType": "TEXT_2_VIDEO"}},
        )
        task = created.json()["data"]["taskId"]
        status = await client.get(
            base + "/statusTask/veo-3-1", params={"taskId": task}, headers=auth
        )
    link: str = json.loads(status.json()["data"]["resultJson"])["resultUrls"][0]
    return link


async def test_success_from_the_sandbox_is_kept_and_served(rig: Rig) -> None:
    """A sandbox result link is downloaded, kept by its SHA-256, announced by an event, shown
    in the pipeline JSON (measured: the sandbox's 8 s at 8 fps) and served with Range
    requests."""
    async with running_sandbox(SandboxConfig(task_seconds=0)) as sandbox:
        link = await apixo_video_link(sandbox)
        async with httpx.AsyncClient() as client:
            video = (await client.get(link)).content
        pid = await rig.succeeded_pipeline(link)
        assert await rig.downloader().run_once() == 1
    digest = hashlib.sha256(video).hexdigest()
    with av.open(io.BytesIO(video), "r") as served:
        first_frame = picture_signature(next(served.decode(video=0)))
    [kept] = await rig.store.step_artifacts([pid])
    assert kept.status is DownloadStatus.STORED
    assert kept.artifact is not None
    assert kept.artifact.sha256 == digest
    assert kept.artifact.size == len(video)
    assert [p.read_bytes() for p in rig.files()] == [video]
    assert "artifact.stored" in [e.type for e in await rig.store.events(pid)]
    app = create_api_app(rig.ops, rig.store, api_token=None, storage=rig.storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as api:
        shown = (await api.get(f"/v1/pipelines/{pid}")).json()["steps"][0]["artifact"]
        assert shown == {
            "sha256": digest,
            "size": len(video),
            "content_type": "video/mp4",
            "url": f"/v1/pipelines/{pid}/steps/0/video",
            "probe": {
                "duration_s": 8.0,
                "fps": 8.0,
                "frames": 64,
                "width": 160,
                "height": 90,
                "video_codec": "h264",
                "audio_codec": "aac",
                "first_frame": first_frame,
            },
        }
        whole = await api.get(shown["url"])
        assert (whole.status_code, whole.content) == (200, video)
        assert whole.headers["content-type"] == "video/mp4"
        part = await api.get(shown["url"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == video[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(video)}"
        tail = await api.get(shown["url"], headers={"Range": "bytes=-10"})
        assert tail.content == video[-10:]
        beyond = await api.get(shown["url"], headers={"Range": f"bytes={len(video)}-"})
        assert beyond.status_code == 416
        assert (await api.get(f"/v1/pipelines/{pid}/steps/5/video")).status_code == 404
        # A superscript two is a "digit" to str.isdigit but no number: a 400, not a crash.
        assert (await api.get(f"/v1/pipelines/{pid}/steps/%C2%B2/video")).status_code == 400


async def test_expired_sandbox_link_fails_with_an_event(rig: Rig) -> None:
    """A link that died (the sandbox's links expire) is reported, not retried forever; the step
    stays succeeded and its error field says the video was not kept."""
    clock = Clock(time.time())
    sandbox_app = create_sandbox_app(SandboxConfig(task_seconds=0, url_ttl_s=60), clock=clock)
    async with serve_app(sandbox_app) as sandbox:
        link = await apixo_video_link(sandbox)
        clock.advance(61)
        pid = await rig.succeeded_pipeline(link)
        await rig.downloader().run_once()
    [kept] = await rig.store.step_artifacts([pid])
    assert kept.status is DownloadStatus.FAILED
    view = await rig.ops.get(pid)
    assert view.steps[0].status == "succeeded"
    assert view.steps[0].error is not None
    assert view.steps[0].error.code == "ARTIFACT_FAILED"
    assert "artifact.failed" in [e.type for e in await rig.store.events(pid)]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("gone", "404"),
        ("html", "content type"),
        ("fake_video", "not an MP4"),
        ("undecodable", "not a playable video"),
        ("big", "cap"),
    ],
)
async def test_permanent_failures(rig: Rig, faults: str, path: str, words: str) -> None:
    """A dead link, an HTML page, HTML bytes labelled video/mp4, an MP4 that does not decode
    and an oversize file are failed downloads, never artifacts."""
    pid = await rig.succeeded_pipeline(f"{faults}/{path}")
    await rig.downloader(max_bytes=100_000).run_once()
    [kept] = await rig.store.step_artifacts([pid])
    assert kept.status is DownloadStatus.FAILED
    assert words in (kept.error or "")
    assert rig.files() == []
    assert list((rig.root / ".staging").glob("*")) == []


async def test_connection_closed_mid_body_is_retried(rig: Rig, faults: str) -> None:
    """A body cut short is retried later, and the second attempt keeps the video."""
    pid = await rig.succeeded_pipeline(f"{faults}/flaky")
    clock = Clock(time.time())
    downloader = rig.downloader(clock=clock)
    assert await downloader.run_once() == 1
    [first] = await rig.store.step_artifacts([pid])
    assert first.status is DownloadStatus.PENDING
    assert "closed" in (first.error or "") or "Error" in (first.error or "")
    assert await downloader.run_once() == 0  # backing off
    clock.advance(3600)
    await downloader.run_once()
    [second] = await rig.store.step_artifacts([pid])
    assert second.status is DownloadStatus.STORED
    assert [p.read_bytes() for p in rig.files()] == [MP4]


async def test_no_retry_past_the_link_expiry(rig: Rig, faults: str) -> None:
    """A transient failure whose next attempt would come after the link expires is reported."""
    rig.fake.urls_expire_in = 1.0
    pid = await rig.succeeded_pipeline(f"{faults}/flaky")
    await rig.downloader().run_once()
    [kept] = await rig.store.step_artifacts([pid])
    assert kept.status is DownloadStatus.FAILED
    assert "expires" in (kept.error or "")


async def test_restart_mid_download_stores_once(rig: Rig, faults: str) -> None:
    """A downloader stopped mid-body leaves no partial file; after its lease runs out another
    one finishes the job; the same video from two steps is stored once."""
    pid = await rig.succeeded_pipeline(f"{faults}/stalled", extends=[{"prompt": "b"}])
    clock = Clock(time.time())
    first = rig.downloader(clock=clock, lease_s=60)
    running = asyncio.create_task(first.run())

    async def mid_body() -> bool:
        return bool((await rig.client.get(f"{faults}/progress")).json().get("mid_body"))

    await eventually(mid_body, what="a download to be mid-body")
    first.stop()  # like a crash: the downloads in flight are dropped, their leases held
    await running
    await rig.client.post(f"{faults}/unstall")
    assert list((rig.root / ".staging").glob("*.partial")) == []
    assert rig.files() == []
    clock.advance(61)
    second = rig.downloader(clock=clock)
    assert await second.run_once() == 2
    kept = await rig.store.step_artifacts([pid])
    assert [k.status for k in kept] == [DownloadStatus.STORED] * 2
    assert {k.artifact.sha256 for k in kept if k.artifact} == {SHA}
    assert [p.read_bytes() for p in rig.files()] == [MP4]


async def test_retention_keeps_what_running_pipelines_use(rig: Rig, faults: str) -> None:
    """Pruning deletes videos of pipelines finished long ago, never one a running pipeline uses."""
    old = await rig.succeeded_pipeline(f"{faults}/ok")
    await rig.downloader().run_once()
    assert len(rig.files()) == 1
    running = await rig.succeeded_pipeline(f"{faults}/ok")
    await rig.downloader().run_once()
    await rig.ops.add_extend(running, ExtendSpec(prompt="more"))
    pruner = Pruner(rig.store, rig.storage, retention_s=0.0, clock=lambda: 4_000_000_000.0)
    assert await pruner.run_once() == 0  # the shared video is still used by a running pipeline
    assert len(rig.files()) == 1
    await rig.ops.cancel(running)
    assert await pruner.run_once() == 1
    assert rig.files() == []
    statuses = {k.status for k in await rig.store.step_artifacts([old, running])}
    assert statuses == {DownloadStatus.PRUNED}
