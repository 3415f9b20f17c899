from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.domain.values import TaskRef, TaskState, Tier, VideoParams
from orchestrator.providers.apimart import ApimartProvider
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.config import ApimartSettings
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
from tests.providers.conftest import FakeApi, clock

BASE = "https://api.apimart.ai"
SUBMITTED = {"code": 200, "data": [{"status": "submitted", "task_id": "task_01K8SG"}]}
NOT_SUCCESS = "The original video task status must be success"
SOURCE = TaskRef(task_id="task_01JQ", kind="generate", model="veo3.1-fast")


def _provider(client: httpx.AsyncClient, **settings: Any) -> ApimartProvider:
    return ApimartProvider(
        ApimartSettings(api_key=SecretStr("sk-m"), **settings), client, clock=clock
    )


def _task(**data: Any) -> dict[str, Any]:
    return {"code": 200, "data": {"id": "task_01K8SG", "created": 1_700_000_000, **data}}


def _error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def test_is_a_provider_with_documented_capabilities(client: httpx.AsyncClient) -> None:
    """apimart satisfies Provider, supports callbacks and allows 20 extends, 4/6/8 s."""
    provider: Provider = _provider(client)
    caps = provider.capabilities
    assert provider.name == "apimart"
    assert (caps.callbacks, caps.max_extend_depth) == (True, 20)
    assert caps.resolutions == {"720p", "1080p", "4k"}
    assert caps.durations == {4, 6, 8}
    assert _provider(client, max_extend_depth=3).capabilities.max_extend_depth == 3


def test_resolve_model(client: httpx.AsyncClient) -> None:
    """Explicit model wins, then the tier, then the configured default, then fast (D2)."""
    provider = _provider(client)
    assert provider.resolve_model(None, None) == "veo3.1-fast"
    assert provider.resolve_model(Tier.QUALITY, None) == "veo3.1-quality"
    assert provider.resolve_model(Tier.FAST, "veo3.1-quality-official") == "veo3.1-quality-official"
    configured = _provider(client, model="veo3.1-fast-official")
    assert configured.resolve_model(None, None) == "veo3.1-fast-official"


def test_extend_model_is_the_base_model_and_refuses_official(client: httpx.AsyncClient) -> None:
    """An extend reuses the base model; -official bases and other models are refused (D3)."""
    provider = _provider(client)
    assert provider.extend_model("veo3.1-quality", None) == "veo3.1-quality"
    with pytest.raises(InvalidRequest, match="generate-only"):
        provider.extend_model("veo3.1-fast-official", None)
    with pytest.raises(InvalidRequest, match="model"):
        provider.extend_model("veo3.1-fast", "veo3.1-quality")


@pytest.mark.parametrize(
    ("kind", "model", "params", "field"),
    [
        ("generate", "veo3.1-fast", VideoParams(aspect_ratio="4:3"), "aspect_ratio"),
        ("generate", "veo3.1-fast", VideoParams(resolution="8k"), "resolution"),
        ("generate", "veo3.1-fast", VideoParams(duration=6), "duration"),
        ("generate", "veo3.1-fast", VideoParams(negative_prompt="blur"), "negative_prompt"),
        ("generate", "veo3.1-fast", VideoParams(generate_audio=False), "generate_audio"),
        ("generate", "veo3.1-fast-official", VideoParams(duration=5), "duration"),
        (
            "generate",
            "veo3.1-fast-official",
            VideoParams(duration=4, resolution="1080p"),
            "duration",
        ),
        (
            "generate",
            "veo3.1-fast-official",
            VideoParams(last_frame_url="https://l"),
            "last_frame_url",
        ),
        ("extend", "veo3.1-fast", VideoParams(first_frame_url="https://f"), "first_frame_url"),
        ("extend", "veo3.1-fast", VideoParams(duration=4), "duration"),
        ("extend", "veo3.1-fast-official", VideoParams(), "model"),
    ],
)
def test_check_params_refusals(
    client: httpx.AsyncClient, kind: Any, model: str, params: VideoParams, field: str
) -> None:
    """Parameters apimart would refuse are reported under the offending field."""
    problems = _provider(client).check_params(kind, model, params)
    assert field in [p.field for p in problems]


def test_check_params_accepts_full_official_set(client: httpx.AsyncClient) -> None:
    """The -official models take frames, seed, negative prompt, audio, 4k and 6 s at 720p."""
    params = VideoParams(
        aspect_ratio="9:16",
        duration=6,
        seed=1,
        negative_prompt="blur",
        first_frame_url="https://f",
        generate_audio=True,
    )
    provider = _provider(client)
    assert provider.check_params("generate", "veo3.1-quality-official", params) == []
    assert provider.check_params("generate", "veo3.1-fast", VideoParams(resolution="4K")) == []


async def test_generate_official_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """An official generate posts typed fields, the webhook base URL and options on top."""
    api.reply(200, SUBMITTED)
    params = VideoParams(
        aspect_ratio="16:9",
        resolution="4k",
        duration=8,
        seed=7,
        first_frame_url="https://f.png",
        last_frame_url="https://l.png",
        generate_audio=True,
    )
    request = GenerateRequest(
        prompt="a cat",
        model="veo3.1-fast-official",
        params=params,
        provider_options={"sample_count": 1, "seed": 9},
        callback_url="https://hooks.test/apimart/tok",
    )
    assert await _provider(client).generate(request) == "task_01K8SG"
    sent = api.last
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE}/v1/videos/generations")
    assert sent.headers["Authorization"] == "Bearer sk-m"
    assert api.sent_json() == {
        "model": "veo3.1-fast-official",
        "prompt": "a cat",
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "4K",
        "first_frame_image": "https://f.png",
        "last_frame_image": "https://l.png",
        "seed": 9,
        "generate_audio": True,
        "webhook": "https://hooks.test/apimart/tok",
        "sample_count": 1,
    }


async def test_generate_standard_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A standard generate sends image_urls, no webhook without a callback, no enhance_prompt."""
    api.reply(200, SUBMITTED)
    params = VideoParams(first_frame_url="https://f.png", resolution="1080p")
    await _provider(client).generate(GenerateRequest("p", "veo3.1-fast", params))
    assert api.sent_json() == {
        "model": "veo3.1-fast",
        "prompt": "p",
        "resolution": "1080p",
        "image_urls": ["https://f.png"],
    }


async def test_generate_accepts_the_older_object_shape(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """The older submit answer with ``data`` as one ``{id, ...}`` object is read too."""
    api.reply(200, {"code": 200, "data": {"id": "task_old", "status": "pending", "progress": 0}})
    assert await _provider(client).generate(GenerateRequest("p", "veo3.1-fast")) == "task_old"


async def test_generate_without_task_id_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A 2xx submit answer without a task id is a ProviderResponseError."""
    api.reply(200, {"code": 200, "data": []})
    with pytest.raises(ProviderResponseError):
        await _provider(client).generate(GenerateRequest("p", "veo3.1-fast"))


async def test_extend_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """An extend posts to the source's remix route with the same model and the webhook."""
    api.reply(200, {"code": 200, "data": [{"status": "submitted", "task_id": "task_new"}]})
    request = ExtendRequest(
        source=SOURCE,
        prompt="more",
        model="veo3.1-fast",
        params=VideoParams(aspect_ratio="9:16"),
        provider_options={"raw": False},
        callback_url="https://hooks.test/x",
    )
    assert await _provider(client).extend(request) == "task_new"
    assert str(api.last.url) == f"{BASE}/v1/videos/task_01JQ/remix"
    assert api.sent_json() == {
        "model": "veo3.1-fast",
        "prompt": "more",
        "aspect_ratio": "9:16",
        "webhook": "https://hooks.test/x",
        "raw": False,
    }


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, _error(404, "not_found_error", "Video not found"), SourceInvalid),
        (400, _error(400, "invalid_request_error", NOT_SUCCESS), SourceNotReady),
        (400, _error(400, "invalid_request_error", "model must match"), InvalidRequest),
    ],
)
async def test_extend_errors(
    api: FakeApi,
    client: httpx.AsyncClient,
    status: int,
    body: dict[str, Any],
    expected: type[ProviderError],
) -> None:
    """A missing source is SourceInvalid, an unfinished one SourceNotReady, the rest invalid."""
    api.reply(status, body)
    with pytest.raises(expected):
        await _provider(client).extend(ExtendRequest(SOURCE, "more", "veo3.1-fast"))


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (400, "invalid_request_error", InvalidRequest),
        (401, "authentication_error", AuthError),
        (402, "payment_required", InsufficientBalance),
        (403, "permission_error", AuthError),
        (429, "rate_limit_error", RateLimited),
        (500, "server_error", ProviderUnavailable),
        (502, "bad_gateway", ProviderUnavailable),
    ],
)
async def test_generate_error_shapes(
    api: FakeApi, client: httpx.AsyncClient, status: int, kind: str, expected: type[ProviderError]
) -> None:
    """Each documented error answer maps to its class and keeps apimart's type and message."""
    api.reply(status, _error(status, kind, f"message {status}"), headers={"Retry-After": "5"})
    with pytest.raises(expected) as raised:
        await _provider(client).generate(GenerateRequest("p", "veo3.1-fast"))
    assert (raised.value.code, raised.value.message) == (kind, f"message {status}")
    assert raised.value.status_code == status
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == 5.0


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
        await _provider(client).generate(GenerateRequest("p", "veo3.1-fast"))


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("submitted", TaskState.QUEUED),
        ("pending", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("failed", TaskState.FAILED),
        ("cancelled", TaskState.CANCELLED),
        ("Processing", TaskState.RUNNING),
        ("warming_up", TaskState.UNKNOWN),
    ],
)
async def test_status_states(
    api: FakeApi, client: httpx.AsyncClient, raw: str, state: TaskState
) -> None:
    """apimart's status strings map per docs/providers.md and the raw string is kept."""
    api.reply(200, _task(status=raw, progress=30))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.raw_status, status.progress) == (state, raw, 30)
    assert (api.last.method, str(api.last.url)) == ("GET", f"{BASE}/v1/tasks/task_01JQ")


@pytest.mark.parametrize("url", ["https://cdn/v.mp4", ["https://cdn/v.mp4"]])
async def test_status_completed_reads_url_string_or_list(
    api: FakeApi, client: httpx.AsyncClient, url: str | list[str]
) -> None:
    """A completed task's ``url`` may be a string or a list; expires_at and times are kept."""
    videos = [{"url": url, "expires_at": 1_700_090_000}]
    api.reply(
        200,
        _task(status="completed", progress=100, completed=1_700_000_100, result={"videos": videos}),
    )
    status = await _provider(client).status(SOURCE)
    assert status.state is TaskState.SUCCEEDED
    assert status.video_urls == ("https://cdn/v.mp4",)
    assert status.urls_expire_at == 1_700_090_000
    assert (status.created_at, status.completed_at) == (1_700_000_000, 1_700_000_100)


async def test_status_completed_without_url_is_no_output(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A completed task without any video URL is FAILED with NO_OUTPUT (D5)."""
    api.reply(200, _task(status="completed", result={"videos": []}))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.error_code, status.raw_status) == (
        TaskState.FAILED,
        "NO_OUTPUT",
        "completed",
    )


async def test_status_failed_keeps_error(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A failed task keeps apimart's error code and message."""
    error = {"code": "content_policy_violation", "message": "blocked"}
    api.reply(200, _task(status="failed", error=error))
    status = await _provider(client).status(SOURCE)
    assert (status.error_code, status.error_message) == ("content_policy_violation", "blocked")


async def test_status_404_is_task_not_found(api: FakeApi, client: httpx.AsyncClient) -> None:
    """Polling a task apimart does not know raises TaskNotFound."""
    api.reply(404, _error(404, "not_found_error", "Task not found"))
    with pytest.raises(TaskNotFound):
        await _provider(client).status(SOURCE)


def test_parse_callback_reads_the_status_body(client: httpx.AsyncClient) -> None:
    """A webhook body is a status answer; its ``data.id`` names the task."""
    body = _task(status="completed", result={"videos": [{"url": ["https://cdn/v.mp4"]}]})
    status = _provider(client).parse_callback(json.dumps(body).encode())
    assert (status.task_id, status.state) == ("task_01K8SG", TaskState.SUCCEEDED)
    assert status.urls_expire_at == 1_700_000_000 + 86_400


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"code":200}', b'{"code":200,"data":{"status":"completed"}}']
)
def test_parse_callback_refuses_malformed_bodies(client: httpx.AsyncClient, body: bytes) -> None:
    """Anything but a status body with a task id is a ProviderResponseError."""
    with pytest.raises(ProviderResponseError):
        _provider(client).parse_callback(body)
