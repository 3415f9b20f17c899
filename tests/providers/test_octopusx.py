from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.domain.values import TaskRef, TaskState, Tier, VideoParams
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.config import OctopusxSettings
from orchestrator.providers.errors import (
    AuthError,
    InsufficientBalance,
    InvalidRequest,
    OutcomeUnknown,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    SourceInvalid,
    SourceNotReady,
    TaskNotFound,
)
from orchestrator.providers.octopusx import OctopusxProvider
from tests.providers.conftest import FakeApi, clock

BASE = "https://octopusx.ai"
SOURCE = TaskRef(task_id="video_123", kind="generate", model="veo_3_1-fast")
CREATED = {
    "id": "video_abc123",
    "object": "video",
    "model": "veo_3_1-fast",
    "status": "queued",
    "progress": 0,
    "created_at": 1735689600,
    "seconds": "8",
    "size": "720x1280",
}


def _provider(client: httpx.AsyncClient, **settings: Any) -> OctopusxProvider:
    return OctopusxProvider(
        OctopusxSettings(api_key=SecretStr("sk-o"), **settings), client, clock=clock
    )


def _video(**fields: Any) -> dict[str, Any]:
    """The documented query answer while running, with ``fields`` replaced."""
    return {
        "id": "video_abc123",
        "object": "video",
        "model": "veo_3_1-fast",
        "status": "processing",
        "progress": 50,
        "created_at": 1735689600,
        "completed_at": 0,
        "expires_at": 1735776000,
        "seconds": "8",
        "size": "720x1280",
        "remixed_from_video_id": "",
        "error": {"message": "", "code": ""},
        "video_url": "",
        **fields,
    }


def test_is_a_provider_with_documented_capabilities(client: httpx.AsyncClient) -> None:
    """octopusx satisfies Provider, polls only, 8 s clips at 720p or 1080p."""
    provider: Provider = _provider(client)
    caps = provider.capabilities
    assert provider.name == "octopusx"
    assert (caps.callbacks, caps.max_extend_depth) == (False, 20)
    assert caps.durations == {8}
    assert caps.resolutions == {"720p", "1080p"}


def test_models(client: httpx.AsyncClient) -> None:
    """Tiers map to veo_3_1-fast / veo_3_1; extends use veo_3_1-extend unless overridden (D3)."""
    provider = _provider(client)
    assert provider.resolve_model(None, None) == "veo_3_1-fast"
    assert provider.resolve_model(Tier.QUALITY, None) == "veo_3_1"
    assert provider.resolve_model(Tier.QUALITY, "veo_3_1-fast") == "veo_3_1-fast"
    assert provider.extend_model("veo_3_1", None) == "veo_3_1-extend"
    assert provider.extend_model("veo_3_1", "veo_3_1") == "veo_3_1"
    configured = _provider(client, extend_model="veo_3_1-extend-q")
    assert configured.extend_model("veo_3_1", None) == "veo_3_1-extend-q"


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("generate", VideoParams(aspect_ratio="1:1"), "aspect_ratio"),
        ("generate", VideoParams(resolution="4k"), "resolution"),
        ("generate", VideoParams(duration=6), "duration"),
        ("generate", VideoParams(last_frame_url="https://f"), "last_frame_url"),
        ("extend", VideoParams(first_frame_url="https://f"), "first_frame_url"),
        ("generate", VideoParams(seed=3), "seed"),
        ("extend", VideoParams(resolution="1080p"), "resolution"),
        ("extend", VideoParams(generate_audio=True), "generate_audio"),
    ],
)
def test_check_params_refusals(
    client: httpx.AsyncClient, kind: Any, params: VideoParams, field: str
) -> None:
    """Parameters octopusx cannot carry are reported under the offending field."""
    problems = _provider(client).check_params(kind, "veo_3_1", params)
    assert field in [p.field for p in problems]


async def test_generate_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A generate sends size, string seconds and metadata.output_config, options on top."""
    api.reply(200, CREATED)
    params = VideoParams(aspect_ratio="9:16", resolution="1080p", generate_audio=False)
    request = GenerateRequest(
        prompt="cows",
        model="veo_3_1-fast",
        params=params,
        provider_options={"enable_upsample": True},
        callback_url="https://ignored.test",
    )
    assert await _provider(client).generate(request) == "video_abc123"
    assert (api.last.method, str(api.last.url)) == ("POST", f"{BASE}/v1/videos")
    assert api.last.headers["Authorization"] == "Bearer sk-o"
    assert api.sent_json() == {
        "model": "veo_3_1-fast",
        "prompt": "cows",
        "size": "720x1280",
        "seconds": "8",
        "metadata": {
            "output_config": {
                "aspect_ratio": "9:16",
                "resolution": "1080P",
                "audio_generation": "Disabled",
            }
        },
        "enable_upsample": True,
    }


async def test_generate_from_a_first_frame_sends_input_reference(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A continuation's first frame travels as ``input_reference``, a URL octopusx fetches."""
    api.reply(200, CREATED)
    params = VideoParams(first_frame_url="https://reelay.test/frames/t.png")
    request = GenerateRequest(prompt="on", model="veo_3_1-fast", params=params)
    assert await _provider(client).generate(request) == "video_abc123"
    assert api.sent_json()["input_reference"] == "https://reelay.test/frames/t.png"
    assert _provider(client).capabilities.first_frame


async def test_generate_options_replace_metadata(api: FakeApi, client: httpx.AsyncClient) -> None:
    """provider_options merge at top level, so their metadata replaces ours."""
    api.reply(200, CREATED)
    request = GenerateRequest(
        prompt="p",
        model="veo_3_1",
        params=VideoParams(resolution="720p"),
        provider_options={"metadata": {"durationSeconds": "8"}, "seconds": 8},
    )
    await _provider(client).generate(request)
    sent = api.sent_json()
    assert (sent["metadata"], sent["seconds"]) == ({"durationSeconds": "8"}, 8)


async def test_generate_without_id_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A 2xx create answer without an id is a ProviderResponseError."""
    api.reply(200, {"object": "video", "status": "queued"})
    with pytest.raises(ProviderResponseError):
        await _provider(client).generate(GenerateRequest("p", "veo_3_1"))


async def test_extend_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """An extend posts prompt and model to the source's remix route."""
    api.reply(200, {**CREATED, "id": "video_456", "remixed_from_video_id": "video_123"})
    request = ExtendRequest(SOURCE, "the cow flies", "veo_3_1-extend")
    assert await _provider(client).extend(request) == "video_456"
    assert str(api.last.url) == f"{BASE}/v1/videos/video_123/remix"
    assert api.sent_json() == {"prompt": "the cow flies", "model": "veo_3_1-extend"}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": {"message": "Video not found", "code": "video_not_found"}}, SourceInvalid),
        (400, {"code": "video_not_ready", "message": "not ready", "data": None}, SourceNotReady),
        (400, {"error": {"message": "Video is not yet completed"}}, SourceNotReady),
    ],
)
async def test_extend_errors(
    api: FakeApi,
    client: httpx.AsyncClient,
    status: int,
    body: dict[str, Any],
    expected: type[ProviderError],
) -> None:
    """An unknown source is SourceInvalid; an unfinished one SourceNotReady."""
    api.reply(status, body)
    with pytest.raises(expected):
        await _provider(client).extend(ExtendRequest(SOURCE, "more", "veo_3_1-extend"))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": {"message": "bad", "type": "invalid_request_error"}}, InvalidRequest),
        (401, {"error": {"message": "key", "code": "invalid_api_key"}}, AuthError),
        (
            403,
            {"code": "quota_exceeded", "message": "user quota", "data": None},
            InsufficientBalance,
        ),
        (403, {"error": {"message": "forbidden"}}, AuthError),
        (402, {"error": {"message": "pay"}}, InsufficientBalance),
        (429, {"error": {"message": "slow", "type": "rate_limit_error"}}, RateLimited),
        (503, {"error": {"message": "down", "type": "server_error"}}, ProviderUnavailable),
    ],
)
async def test_generate_error_shapes(
    api: FakeApi,
    client: httpx.AsyncClient,
    status: int,
    body: dict[str, Any],
    expected: type[ProviderError],
) -> None:
    """OpenAI-style and new-api task errors map by status; 403 with quota text is balance."""
    api.reply(status, body)
    with pytest.raises(ProviderError) as raised:
        await _provider(client).generate(GenerateRequest("p", "veo_3_1"))
    assert type(raised.value) is expected
    assert raised.value.message == (body.get("error") or body)["message"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [(httpx.ConnectError, RequestNotSent), (httpx.ReadTimeout, OutcomeUnknown)],
)
async def test_transport_errors(
    api: FakeApi, client: httpx.AsyncClient, error: type[Exception], expected: type[ProviderError]
) -> None:
    """A refused connection is RequestNotSent; a read timeout after sending is OutcomeUnknown."""
    api.fail(error)
    with pytest.raises(expected):
        await _provider(client).extend(ExtendRequest(SOURCE, "more", "veo_3_1-extend"))


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("queued", TaskState.QUEUED),
        ("pending", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("in_progress", TaskState.RUNNING),
        ("IN_PROGRESS", TaskState.RUNNING),
        ("failed", TaskState.FAILED),
        ("cancelled", TaskState.CANCELLED),
        ("NOT_START", TaskState.UNKNOWN),
    ],
)
async def test_status_states(
    api: FakeApi, client: httpx.AsyncClient, raw: str, state: TaskState
) -> None:
    """octopusx's status strings map per docs/providers.md, and placeholders read as "not yet"."""
    api.reply(200, _video(status=raw))
    status = await _provider(client).status(SOURCE)
    assert (api.last.method, str(api.last.url)) == ("GET", f"{BASE}/v1/videos/video_123")
    assert (status.state, status.raw_status, status.progress) == (state, raw, 50)
    assert (status.completed_at, status.error_code, status.error_message) == (None, None, None)
    assert status.created_at == 1735689600


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"video_url": "https://cdn/v.mp4"}, "https://cdn/v.mp4"),
        ({"metadata": {"url": "https://meta/v.mp4"}}, "https://meta/v.mp4"),
        ({}, f"{BASE}/v1/videos/video_123/content"),
    ],
)
async def test_status_completed_url_sources(
    api: FakeApi, client: httpx.AsyncClient, fields: dict[str, Any], url: str
) -> None:
    """The URL comes from video_url, else metadata.url, else the keyed /content route (D5)."""
    api.reply(200, _video(status="completed", progress=100, completed_at=1735689700, **fields))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.video_urls) == (TaskState.SUCCEEDED, (url,))
    assert (status.completed_at, status.urls_expire_at) == (1735689700, 1735776000)


async def test_status_failed_keeps_error(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A failed task keeps the provider's error code and message."""
    error = {"message": "Content blocked", "code": "content_policy_violation"}
    api.reply(200, _video(status="failed", error=error))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.error_code, status.error_message) == (
        TaskState.FAILED,
        "content_policy_violation",
        "Content blocked",
    )
    assert status.video_urls == ()


async def test_status_404_is_task_not_found(api: FakeApi, client: httpx.AsyncClient) -> None:
    """Polling an unknown task raises TaskNotFound."""
    api.reply(404, {"error": {"message": "Video not found", "code": "video_not_found"}})
    with pytest.raises(TaskNotFound):
        await _provider(client).status(SOURCE)


def test_parse_callback_is_refused(client: httpx.AsyncClient) -> None:
    """octopusx sends no callbacks, so any body is refused."""
    with pytest.raises(ProviderResponseError, match="does not send callbacks"):
        _provider(client).parse_callback(b"{}")
