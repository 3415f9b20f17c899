"""What each task's video shows: its own marked frames, the whole video so far for an extend,
the first-frame image fetched over HTTP, and a failure when that image cannot be had."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import av
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.sandbox import SandboxConfig, renders
from orchestrator.sandbox.video import Frames, code_for, marked_png, read_marks, render
from tests.clock import Clock
from tests.loopback import free_port, running_sandbox, serve_app
from tests.sandbox.conftest import AUTH

PROVIDERS = ("apimart", "octopusx", "apixo", "apifree")
MODELS = {"apimart": "veo3.1-fast", "octopusx": "veo_3_1-fast", "apifree": "veo-3.1-fast"}
REMIX_MODELS = {"apimart": "veo3.1-fast", "octopusx": "veo_3_1-extend", "apifree": None}
IMAGE_MARK = (4_242, 7)
FirstFrameFields = Callable[[str], dict[str, Any]]
FIRST_FRAME_FIELDS: dict[str, tuple[str, FirstFrameFields]] = {
    "apimart official": (
        "apimart",
        lambda url: {"model": "veo3.1-fast-official", "first_frame_image": url},
    ),
    "apimart standard": ("apimart", lambda url: {"image_urls": [url]}),
    "apixo": (
        "apixo",
        lambda url: {"generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO", "image_urls": [url]},
    ),
    "octopusx string": ("octopusx", lambda url: {"input_reference": url}),
    "octopusx list": ("octopusx", lambda url: {"input_reference": [url, url + "?second"]}),
}


def submitted_id(provider: str, answer: dict[str, Any]) -> str:
    return str(answer["data"][0]["task_id"] if provider == "apimart" else answer["id"])


async def generate(client: httpx.AsyncClient, provider: str, **fields: Any) -> str:
    if provider == "apixo":
        body: dict[str, Any] = {"input": {"prompt": "a fox"} | fields}
        response = await client.post("/apixo/api/v1/generateTask/veo-3-1", json=body)
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["taskId"]
        return task_id
    body = {"model": MODELS[provider], "prompt": "a fox"} | fields
    path = "/apimart/v1/videos/generations" if provider == "apimart" else f"/{provider}/v1/videos"
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return submitted_id(provider, response.json())


async def extend(client: httpx.AsyncClient, provider: str, source: str, **fields: Any) -> str:
    if provider == "apixo":
        body: dict[str, Any] = {"input": {"taskId": source, "prompt": "on it runs"}}
        response = await client.post("/apixo/api/v1/generateTask/veo-3-1-extend", json=body)
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["taskId"]
        return task_id
    body = {"prompt": "on it runs", "model": REMIX_MODELS[provider]} | fields
    prefix = "/apimart/v1/videos" if provider == "apimart" else f"/{provider}/v1/videos"
    response = await client.post(f"{prefix}/{source}/remix", json=body)
    assert response.status_code == 200, response.text
    return submitted_id(provider, response.json())


async def status(client: httpx.AsyncClient, provider: str, task_id: str) -> dict[str, Any]:
    if provider == "apimart":
        response = await client.get(f"/apimart/v1/tasks/{task_id}")
    elif provider == "apixo":
        model = "veo-3-1-extend" if task_id.startswith("extend_") else "veo-3-1"
        response = await client.get(f"/apixo/api/v1/statusTask/{model}?taskId={task_id}")
    else:
        response = await client.get(f"/{provider}/v1/videos/{task_id}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer["data"] if provider in ("apimart", "apixo") else answer


def video_url(provider: str, finished: dict[str, Any]) -> str:
    if provider == "apimart":
        url = finished["result"]["videos"][0]["url"]
        return url if isinstance(url, str) else str(url[0])
    if provider == "apixo":
        return str(json.loads(finished["resultJson"])["resultUrls"][0])
    return str(finished["video_url"])


def failure(provider: str, finished: dict[str, Any]) -> tuple[str, str, str]:
    """The failed state word, the failure's code and its message."""
    if provider == "apixo":
        return finished["state"], finished["failCode"], finished["failMsg"]
    error = finished["error"]
    return finished["status"], error["code"], error["message"]


async def video(client: httpx.AsyncClient, provider: str, task_id: str) -> bytes:
    download = await client.get(video_url(provider, await status(client, provider, task_id)))
    assert download.status_code == 200, download.text
    return download.content


def own(provider: str, task_id: str, indexes: range) -> list[tuple[int, int]]:
    code = code_for(provider, task_id)
    return [(code, index) for index in indexes]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_base_video_is_8_s_of_its_own_frames(
    sandbox: httpx.AsyncClient, clock: Clock, provider: str
) -> None:
    """64 frames at 8 fps marked with the task's code and 0..63, H.264 and AAC, that decode."""
    task_id = await generate(sandbox, provider)
    clock.advance(10)
    data = await video(sandbox, provider, task_id)
    assert read_marks(data) == own(provider, task_id, range(64))
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 160, 90)
        assert stream.frames == 64
        assert stream.average_rate == 8
        assert container.duration == 8_000_000
        assert container.streams.audio[0].codec_context.name == "aac"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_extend_video_is_the_source_then_its_own_frames(
    sandbox: httpx.AsyncClient, clock: Clock, provider: str
) -> None:
    """The source's 64 frames, then 56 of the extend's own, numbered from 0."""
    base = await generate(sandbox, provider)
    clock.advance(10)
    child = await extend(sandbox, provider, base)
    clock.advance(10)
    marks = read_marks(await video(sandbox, provider, child))
    assert marks == own(provider, base, range(64)) + own(provider, child, range(56))
    assert read_marks(await video(sandbox, provider, base)) == own(provider, base, range(64))


async def test_an_extend_of_an_extend_holds_the_whole_chain(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """Each extend re-renders everything before it: 8 s + 7 s + 7 s."""
    chain = [await generate(sandbox, "octopusx")]
    for _ in range(2):
        clock.advance(10)
        chain.append(await extend(sandbox, "octopusx", chain[-1]))
    clock.advance(10)
    data = await video(sandbox, "octopusx", chain[-1])
    assert read_marks(data) == [
        *own("octopusx", chain[0], range(64)),
        *own("octopusx", chain[1], range(56)),
        *own("octopusx", chain[2], range(56)),
    ]
    with av.open(io.BytesIO(data), "r") as container:
        assert container.duration == 22_000_000


async def test_apimart_raw_remix_holds_only_its_new_frames(
    sandbox: httpx.AsyncClient, clock: Clock
) -> None:
    """``raw: true`` gives only the 7 s the remix adds; remixing it again still continues the
    whole video so far."""
    base = await generate(sandbox, "apimart")
    clock.advance(10)
    raw = await extend(sandbox, "apimart", base, raw=True)
    clock.advance(10)
    assert read_marks(await video(sandbox, "apimart", raw)) == own("apimart", raw, range(56))
    whole = await extend(sandbox, "apimart", raw, raw=False)
    clock.advance(10)
    assert read_marks(await video(sandbox, "apimart", whole)) == [
        *own("apimart", base, range(64)),
        *own("apimart", raw, range(56)),
        *own("apimart", whole, range(56)),
    ]


async def test_downloads_of_one_video_render_it_once(
    sandbox: httpx.AsyncClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET, HEAD, a range and the content route all serve the bytes rendered the first time."""
    rendered: list[Frames] = []

    def counting(frames: Frames) -> bytes:
        rendered.append(frames)
        return render(frames)

    monkeypatch.setattr(renders, "render", counting)
    task_id = await generate(sandbox, "octopusx")
    clock.advance(10)
    url = video_url("octopusx", await status(sandbox, "octopusx", task_id))
    full = await sandbox.get(url)
    head = await sandbox.head(url)
    part = await sandbox.get(url, headers={"range": "bytes=100-199"})
    content = await sandbox.get(f"/octopusx/v1/videos/{task_id}/content")
    assert head.headers["content-length"] == str(len(full.content))
    assert part.content == full.content[100:200]
    assert content.content == full.content
    assert len(rendered) == 1


@asynccontextmanager
async def image_server() -> AsyncIterator[str]:
    """A loopback server of ``/first.png`` (marked ``IMAGE_MARK``), ``/page.html`` (not an
    image) and 404 for anything else; yields its root URL."""
    png = marked_png(*IMAGE_MARK)

    async def first(request: Request) -> Response:
        return Response(png, media_type="image/png")

    async def page(request: Request) -> Response:
        return Response("<html>hello</html>", media_type="text/html")

    app = Starlette(routes=[Route("/first.png", first), Route("/page.html", page)])
    async with serve_app(app, lifespan="off") as root:
        yield root


@asynccontextmanager
async def sandbox_over_loopback() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_sandbox(SandboxConfig(task_seconds=0)) as root,
        httpx.AsyncClient(base_url=root, headers=AUTH, trust_env=False) as client,
    ):
        yield client


@pytest.mark.parametrize("variant", FIRST_FRAME_FIELDS)
async def test_an_image_to_video_starts_with_the_fetched_image(variant: str) -> None:
    """Over real HTTP the sandbox fetches the image: frame 0 carries the image's own mark, then
    come 63 frames of the task's own, numbered 1..63."""
    provider, fields = FIRST_FRAME_FIELDS[variant]
    async with image_server() as images, sandbox_over_loopback() as client:
        task_id = await generate(client, provider, **fields(images + "/first.png"))
        marks = read_marks(await video(client, provider, task_id))
    assert marks == [IMAGE_MARK, *own(provider, task_id, range(1, 64))]


FAILURE_CODES = {
    "apimart": "image_download_failed",
    "apixo": "IMAGE_DOWNLOAD_FAILED",
    "octopusx": "image_download_failed",
}


@pytest.mark.parametrize("variant", FIRST_FRAME_FIELDS)
async def test_an_unreachable_image_fails_the_task_when_it_ends(
    sandbox: httpx.AsyncClient, clock: Clock, variant: str
) -> None:
    """The submit is accepted; the task runs, then fails saying the image download failed."""
    provider, fields = FIRST_FRAME_FIELDS[variant]
    url = f"http://127.0.0.1:{free_port()}/first.png"
    task_id = await generate(sandbox, provider, **fields(url))
    running = await status(sandbox, provider, task_id)
    assert running.get("status", running.get("state")) in ("pending", "queued")
    clock.advance(10)
    state, code, message = failure(provider, await status(sandbox, provider, task_id))
    assert (state, code) == ("failed", FAILURE_CODES[provider])
    assert message.startswith(f"image download failed: GET {url} failed (ConnectError")


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/missing.png", "answered HTTP 404"), ("/page.html", "the image does not decode")],
)
async def test_an_image_that_is_missing_or_not_an_image_fails_the_task(
    path: str, reason: str
) -> None:
    async with image_server() as images, sandbox_over_loopback() as client:
        fields = {"generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO", "image_urls": [images + path]}
        task_id = await generate(client, "apixo", **fields)
        finished = await status(client, "apixo", task_id)
    state, code, message = failure("apixo", finished)
    assert (state, code) == ("failed", "IMAGE_DOWNLOAD_FAILED")
    assert message.startswith("image download failed: ")
    assert reason in message


async def test_reference_images_are_not_fetched(sandbox: httpx.AsyncClient, clock: Clock) -> None:
    """apixo ``REFERENCE_2_VIDEO`` images guide the video; none becomes its first frame."""
    url = f"http://127.0.0.1:{free_port()}/reference.png"
    fields = {"generationType": "REFERENCE_2_VIDEO", "image_urls": [url], "mode": "fast"}
    task_id = await generate(sandbox, "apixo", **fields)
    clock.advance(10)
    assert read_marks(await video(sandbox, "apixo", task_id)) == own("apixo", task_id, range(64))
