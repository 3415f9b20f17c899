from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.domain.values import StepKind, TaskRef, TaskState, Tier, VideoParams
from orchestrator.providers.apifree import ApifreeProvider
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.config import ApifreeSettings
from orchestrator.providers.errors import (
    AuthError,
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
from tests.providers.conftest import FakeApi, clock

BASE = "https://api.apifree.ai"
MODEL = "veo-3.1-fast"
SOURCE = TaskRef(task_id="video_abc123", kind="generate", model=MODEL)
REMIXED = {
    "id": "video_remix_456",
    "object": "video",
    "created_at": 1758941888,
    "status": "queued",
    "model": "video-model-id",
}


def _provider(client: httpx.AsyncClient, **settings: Any) -> ApifreeProvider:
    return ApifreeProvider(
        ApifreeSettings(api_key=SecretStr("sk-f"), **settings), client, clock=clock
    )


def _video(**fields: Any) -> dict[str, Any]:
    base = {"id": "video_abc123", "object": "video", "created": 1758941888, "model": MODEL}
    return {**base, **fields}


def test_is_a_provider_with_documented_capabilities(client: httpx.AsyncClient) -> None:
    """apifree satisfies Provider, polls only, 8 s clips at 1280x720 or 720x1280."""
    provider: Provider = _provider(client)
    caps = provider.capabilities
    assert provider.name == "apifree"
    assert (caps.callbacks, caps.max_extend_depth) == (False, 20)
    assert caps.aspect_ratios == {"16:9", "9:16"}
    assert caps.resolutions == {"720p"}
    assert caps.durations == {8}


def test_resolve_model_needs_a_model(client: httpx.AsyncClient) -> None:
    """apifree has no default model: the request's or the configured one, else InvalidRequest."""
    assert _provider(client).resolve_model(Tier.FAST, MODEL) == MODEL
    assert _provider(client, model="veo-x").resolve_model(Tier.QUALITY, None) == "veo-x"
    with pytest.raises(InvalidRequest) as refused:
        _provider(client).resolve_model(Tier.FAST, None)
    # The 422 says what to set, where, and with what: the setting, the request field, a value.
    for words in ("REELAY_APIFREE_MODEL", "model field", "veo-3.1-fast"):
        assert words in refused.value.message


def test_extend_model_is_the_base_unless_requested(client: httpx.AsyncClient) -> None:
    """An extend uses the step's model, else REELAY_APIFREE_EXTEND_MODEL, else the source's (D3)."""
    assert _provider(client).extend_model(MODEL, None) == MODEL
    assert _provider(client).extend_model(MODEL, "other") == "other"
    configured = _provider(client, extend_model="veo-extend")
    assert configured.extend_model(MODEL, None) == "veo-extend"
    assert configured.extend_model(MODEL, "other") == "other"


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("generate", VideoParams(aspect_ratio="21:9"), "aspect_ratio"),
        ("generate", VideoParams(resolution="1080p"), "resolution"),
        ("generate", VideoParams(duration=4), "duration"),
        ("generate", VideoParams(first_frame_url="https://f"), "first_frame_url"),
        ("generate", VideoParams(negative_prompt="x"), "negative_prompt"),
        ("extend", VideoParams(seed=1), "seed"),
    ],
)
def test_check_params_refusals(
    client: httpx.AsyncClient, kind: StepKind, params: VideoParams, field: str
) -> None:
    """Parameters apifree's JSON API cannot carry are reported under the offending field."""
    problems = _provider(client).check_params(kind, MODEL, params)
    assert field in [p.field for p in problems]


async def test_generate_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A generate posts model, prompt, size and string seconds, with options on top."""
    api.reply(200, {**REMIXED, "id": "video_abc123"})
    request = GenerateRequest(
        prompt="p",
        model=MODEL,
        params=VideoParams(aspect_ratio="16:9", duration=8),
        provider_options={"stream": False, "seconds": 8},
    )
    assert await _provider(client).generate(request) == "video_abc123"
    assert (api.last.method, str(api.last.url)) == ("POST", f"{BASE}/v1/videos")
    assert api.last.headers["Authorization"] == "Bearer sk-f"
    assert api.sent_json() == {
        "model": MODEL,
        "prompt": "p",
        "size": "1280x720",
        "seconds": 8,
        "stream": False,
    }


async def test_generate_without_id_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A 2xx create answer without an id is a ProviderResponseError."""
    api.reply(200, {"object": "video"})
    with pytest.raises(ProviderResponseError):
        await _provider(client).generate(GenerateRequest("p", MODEL))


async def test_extend_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """An extend posts prompt and model to the source's remix route."""
    api.reply(200, REMIXED)
    assert await _provider(client).extend(ExtendRequest(SOURCE, "snow", MODEL)) == "video_remix_456"
    assert str(api.last.url) == f"{BASE}/v1/videos/video_abc123/remix"
    assert api.sent_json() == {"prompt": "snow", "model": MODEL}


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (404, "Original video not found", SourceInvalid),
        (400, "Original video is not yet completed", SourceNotReady),
        (400, "Missing prompt", InvalidRequest),
        (401, "Authentication failure", AuthError),
        (429, "Too many requests", RateLimited),
        (502, "Upstream remix task creation failure", ProviderUnavailable),
    ],
)
async def test_extend_error_cases(
    api: FakeApi,
    client: httpx.AsyncClient,
    status: int,
    message: str,
    expected: type[ProviderError],
) -> None:
    """Each documented remix error case maps to its class with apifree's message kept."""
    api.reply(status, {"error": {"message": message, "type": "x"}})
    with pytest.raises(expected) as raised:
        await _provider(client).extend(ExtendRequest(SOURCE, "snow", MODEL))
    assert raised.value.message == message


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
        await _provider(client).status(SOURCE)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("queued", TaskState.QUEUED),
        ("in_progress", TaskState.RUNNING),
        ("processing", TaskState.RUNNING),
        ("failed", TaskState.FAILED),
        ("Completed", TaskState.SUCCEEDED),
        ("rendering", TaskState.UNKNOWN),
    ],
)
async def test_status_states(
    api: FakeApi, client: httpx.AsyncClient, raw: str, state: TaskState
) -> None:
    """apifree's statuses map per docs/providers.md; ``created`` stands in for ``created_at``."""
    api.reply(200, _video(status=raw, progress="40"))
    status = await _provider(client).status(SOURCE)
    assert (api.last.method, str(api.last.url)) == ("GET", f"{BASE}/v1/videos/video_abc123")
    assert (status.state, status.raw_status, status.progress) == (state, raw, 40)
    assert status.created_at == 1758941888


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"video_url": "https://a/v.mp4", "url": "https://b"}, "https://a/v.mp4"),
        ({"url": "https://b/v.mp4"}, "https://b/v.mp4"),
        ({"metadata": {"url": "https://c/v.mp4"}}, "https://c/v.mp4"),
        ({"output": ["https://d/v.mp4"]}, "https://d/v.mp4"),
        ({}, f"{BASE}/v1/videos/video_abc123/content"),
    ],
)
async def test_status_completed_url_sources(
    api: FakeApi, client: httpx.AsyncClient, fields: dict[str, Any], url: str
) -> None:
    """The URL is the first of video_url, url, metadata.url, output, else /content (D5)."""
    api.reply(200, _video(status="completed", **fields))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.video_urls) == (TaskState.SUCCEEDED, (url,))
    assert status.urls_expire_at == 1758941888 + 86_400


async def test_status_404_is_task_not_found(api: FakeApi, client: httpx.AsyncClient) -> None:
    """Polling an unknown task raises TaskNotFound."""
    api.reply(404, {"error": {"message": "task not found"}})
    with pytest.raises(TaskNotFound):
        await _provider(client).status(SOURCE)


def test_parse_callback_is_refused(client: httpx.AsyncClient) -> None:
    """apifree sends no callbacks, so any body is refused."""
    with pytest.raises(ProviderResponseError, match="does not send callbacks"):
        _provider(client).parse_callback(b'{"id":"video_abc123","status":"completed"}')
