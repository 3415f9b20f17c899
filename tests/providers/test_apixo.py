from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.domain.values import StepKind, TaskRef, TaskState, Tier, VideoParams
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.config import ApixoSettings
from orchestrator.providers.errors import (
    AuthError,
    ContentPolicy,
    InsufficientBalance,
    InvalidRequest,
    OutcomeUnknown,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    SourceInvalid,
    TaskNotFound,
)
from tests.providers.conftest import FakeApi, clock

BASE = "https://api.apixo.ai/api/v1"
ACCEPTED = {"code": 200, "message": "success", "data": {"taskId": "task_12345678"}}
BAD_SOURCE = {
    "code": 400,
    "message": "TaskId not found, expired or not a veo-3-1 task.",
    "data": None,
}
SOURCE = TaskRef(task_id="task_12345678", kind="generate", model="fast")
SUCCESS = {
    "taskId": "extend_task_12345678",
    "state": "success",
    "resultJson": '{"resultUrls":["https://r2.apixo.ai/video_extend.mp4"]}',
    "createTime": 1767965610929,
    "completeTime": 1767965730929,
    "costTime": 120000,
}


def _provider(client: httpx.AsyncClient, **settings: Any) -> ApixoProvider:
    return ApixoProvider(ApixoSettings(api_key=SecretStr("sk-x"), **settings), client, clock=clock)


def _status(**data: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {"taskId": "task_12345678", **data}}


def test_is_a_provider_with_documented_capabilities(client: httpx.AsyncClient) -> None:
    """apixo satisfies Provider, has callbacks, one extend hop, 8 s at 720p, auto aspect."""
    provider: Provider = _provider(client)
    caps = provider.capabilities
    assert provider.name == "apixo"
    assert (caps.callbacks, caps.max_extend_depth) == (True, 1)
    assert caps.resolutions == {"720p"}
    assert caps.durations == {8}
    assert caps.aspect_ratios == {"16:9", "9:16", "auto"}
    assert caps.typical_task_seconds == 120.0
    assert _provider(client, max_extend_depth=0).capabilities.max_extend_depth == 0


def test_models_are_modes(client: httpx.AsyncClient) -> None:
    """apixo's models are its modes; veo-3-1-<mode> is accepted, anything else refused."""
    provider = _provider(client)
    assert provider.resolve_model(None, None) == "fast"
    assert provider.resolve_model(Tier.QUALITY, None) == "quality"
    assert provider.resolve_model(Tier.FAST, "veo-3-1-quality") == "quality"
    assert _provider(client, model="quality").resolve_model(None, None) == "quality"
    with pytest.raises(InvalidRequest, match="fast or quality"):
        provider.resolve_model(None, "veo3.1-fast")


def test_extend_model_keeps_the_base_mode_unless_asked(client: httpx.AsyncClient) -> None:
    """An extend uses the base's mode unless the step names another (D3)."""
    provider = _provider(client)
    assert provider.extend_model("quality", None) == "quality"
    assert provider.extend_model("quality", "fast") == "fast"
    with pytest.raises(InvalidRequest):
        provider.extend_model("quality", "turbo")


@pytest.mark.parametrize(
    ("kind", "model", "params", "field"),
    [
        ("generate", "fast", VideoParams(aspect_ratio="4:3"), "aspect_ratio"),
        ("generate", "fast", VideoParams(resolution="1080p"), "resolution"),
        ("generate", "fast", VideoParams(duration=4), "duration"),
        ("generate", "fast", VideoParams(negative_prompt="x"), "negative_prompt"),
        ("generate", "fast", VideoParams(generate_audio=False), "generate_audio"),
        ("generate", "fast", VideoParams(last_frame_url="https://l"), "last_frame_url"),
        ("generate", "turbo", VideoParams(), "model"),
        ("extend", "fast", VideoParams(first_frame_url="https://f"), "first_frame_url"),
    ],
)
def test_check_params_refusals(
    client: httpx.AsyncClient, kind: StepKind, model: str, params: VideoParams, field: str
) -> None:
    """Parameters apixo cannot take are reported under the offending field."""
    problems = _provider(client).check_params(kind, model, params)
    assert field in [p.field for p in problems]


def test_check_params_message_names_allowed_values(client: httpx.AsyncClient) -> None:
    """A refused aspect ratio names every allowed value."""
    problems = _provider(client).check_params("generate", "fast", VideoParams(aspect_ratio="4:3"))
    assert problems[0].message == "apixo supports aspect_ratio 16:9, 9:16, auto; got 4:3"


async def test_generate_request_with_callback(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A generate sends the callback envelope and frames; options merge into ``input``."""
    api.reply(200, ACCEPTED)
    params = VideoParams(
        aspect_ratio="auto", seed=5, first_frame_url="https://f.png", last_frame_url="https://l"
    )
    request = GenerateRequest(
        prompt="a storm",
        model="quality",
        params=params,
        provider_options={"enableTranslation": False, "seed": 6},
        callback_url="https://hooks.test/apixo/tok",
    )
    assert await _provider(client).generate(request) == "task_12345678"
    assert (api.last.method, str(api.last.url)) == ("POST", f"{BASE}/generateTask/veo-3-1")
    assert api.last.headers["Authorization"] == "Bearer sk-x"
    assert api.sent_json() == {
        "request_type": "callback",
        "callback_url": "https://hooks.test/apixo/tok",
        "input": {
            "mode": "quality",
            "prompt": "a storm",
            "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO",
            "aspect_ratio": "auto",
            "image_urls": ["https://f.png", "https://l"],
            "seed": 6,
            "enableTranslation": False,
        },
    }


async def test_generate_without_callback_is_async(api: FakeApi, client: httpx.AsyncClient) -> None:
    """Without a callback URL the request is ``async`` text-to-video."""
    api.reply(200, ACCEPTED)
    await _provider(client).generate(GenerateRequest("p", "fast"))
    assert api.sent_json() == {
        "request_type": "async",
        "input": {"mode": "fast", "prompt": "p", "generationType": "TEXT_2_VIDEO"},
    }


async def test_generate_without_task_id_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A 2xx submit answer without ``data.taskId`` is a ProviderResponseError."""
    api.reply(200, {"code": 200, "message": "success", "data": {}})
    with pytest.raises(ProviderResponseError):
        await _provider(client).generate(GenerateRequest("p", "fast"))


async def test_extend_request(api: FakeApi, client: httpx.AsyncClient) -> None:
    """An extend posts the source's taskId and mode to the extend endpoint."""
    api.reply(200, {"code": 200, "message": "success", "data": {"taskId": "extend_task_1"}})
    request = ExtendRequest(
        SOURCE, "a chase", "fast", params=VideoParams(seed=1234), provider_options={"watermark": ""}
    )
    assert await _provider(client).extend(request) == "extend_task_1"
    assert str(api.last.url) == f"{BASE}/generateTask/veo-3-1-extend"
    assert api.sent_json() == {
        "request_type": "async",
        "input": {
            "taskId": "task_12345678",
            "mode": "fast",
            "prompt": "a chase",
            "seed": 1234,
            "watermark": "",
        },
    }


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, BAD_SOURCE),
        (200, BAD_SOURCE),
        (400, {"code": "TASKID_ERROR", "message": "bad", "data": None}),
        (404, {"code": 404, "message": "Task not found", "data": None}),
    ],
)
async def test_extend_bad_source_is_source_invalid(
    api: FakeApi, client: httpx.AsyncClient, status: int, body: dict[str, Any]
) -> None:
    """An unknown, expired or non-base source is SourceInvalid, keeping apixo's message."""
    api.reply(status, body)
    with pytest.raises(SourceInvalid) as raised:
        await _provider(client).extend(ExtendRequest(SOURCE, "more", "fast"))
    assert raised.value.message == body["message"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthError),
        (402, InsufficientBalance),
        (403, ContentPolicy),
        (429, RateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
async def test_generate_error_shapes(
    api: FakeApi, client: httpx.AsyncClient, status: int, expected: type[ProviderError]
) -> None:
    """apixo's envelope errors map by status (403 is content policy) and keep the details."""
    body = {"code": status, "message": "Invalid request", "data": {"error": "input.prompt"}}
    api.reply(status, body, headers={"Retry-After": "60"})
    with pytest.raises(expected) as raised:
        await _provider(client).generate(GenerateRequest("p", "fast"))
    assert raised.value.message == "Invalid request: input.prompt"
    assert (raised.value.code, raised.value.status_code) == (str(status), status)
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == 60.0


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
        await _provider(client).generate(GenerateRequest("p", "fast"))


@pytest.mark.parametrize(
    ("kind", "path"),
    [("generate", "/statusTask/veo-3-1"), ("extend", "/statusTask/veo-3-1-extend")],
)
async def test_status_path_follows_task_kind(
    api: FakeApi, client: httpx.AsyncClient, kind: StepKind, path: str
) -> None:
    """Base and extend tasks are polled on their own status paths with ``taskId``."""
    api.reply(200, _status(state="pending", createTime=1767965610929))
    await _provider(client).status(TaskRef("t1", kind, "fast"))
    assert api.last.method == "GET"
    assert str(api.last.url) == f"{BASE}{path}?taskId=t1"


@pytest.mark.parametrize(
    ("raw", "state", "progress"),
    [
        ("pending", TaskState.QUEUED, None),
        ("processing", TaskState.RUNNING, None),
        ("PROCESSING", TaskState.RUNNING, None),
        ("failed", TaskState.FAILED, 100),
        ("queued_upstream", TaskState.UNKNOWN, None),
    ],
)
async def test_status_states(
    api: FakeApi, client: httpx.AsyncClient, raw: str, state: TaskState, progress: int | None
) -> None:
    """apixo states map per docs/providers.md; progress is None until terminal, then 100."""
    api.reply(200, _status(state=raw, createTime=1767965610929))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.raw_status, status.progress) == (state, raw, progress)
    assert status.created_at == 1767965610.929


async def test_status_success_parses_result_json_and_ms_times(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A success reads URLs from the resultJson string and converts ms to s (D8, D9)."""
    api.reply(200, {"code": 200, "message": "success", "data": SUCCESS})
    status = await _provider(client).status(SOURCE)
    assert status.state is TaskState.SUCCEEDED
    assert status.video_urls == ("https://r2.apixo.ai/video_extend.mp4",)
    assert (status.created_at, status.completed_at) == (1767965610.929, 1767965730.929)
    assert status.urls_expire_at == 1767965730.929 + 86_400
    assert status.progress == 100


async def test_status_success_without_urls_is_no_output(
    api: FakeApi, client: httpx.AsyncClient
) -> None:
    """A success whose resultJson holds no URL is FAILED with NO_OUTPUT (D5)."""
    api.reply(200, _status(state="success", resultJson='{"resultUrls":[]}'))
    status = await _provider(client).status(SOURCE)
    assert (status.state, status.error_code) == (TaskState.FAILED, "NO_OUTPUT")


async def test_status_failed_keeps_fail_code(api: FakeApi, client: httpx.AsyncClient) -> None:
    """A failed task keeps failCode and failMsg."""
    api.reply(
        200, _status(state="failed", failCode="CONTENT_VIOLATION", failMsg="Content violates")
    )
    status = await _provider(client).status(SOURCE)
    assert (status.error_code, status.error_message) == ("CONTENT_VIOLATION", "Content violates")
    assert status.completed_at is None


@pytest.mark.parametrize("result_json", ["{broken", "[1]", 7])
async def test_status_with_unreadable_result_json_is_a_response_error(
    api: FakeApi, client: httpx.AsyncClient, result_json: object
) -> None:
    """A resultJson that is not a JSON object cannot be read, rather than becoming a failure."""
    api.reply(200, _status(state="success", resultJson=result_json))
    with pytest.raises(ProviderResponseError):
        await _provider(client).status(SOURCE)


async def test_status_404_is_task_not_found(api: FakeApi, client: httpx.AsyncClient) -> None:
    """Polling an unknown task raises TaskNotFound."""
    api.reply(404, {"code": 404, "message": "Task not found", "data": None})
    with pytest.raises(TaskNotFound):
        await _provider(client).status(SOURCE)


def test_parse_callback_reads_the_documented_bodies(client: httpx.AsyncClient) -> None:
    """The documented success and failure callback bodies parse to terminal statuses."""
    provider = _provider(client)
    success = {
        "code": 200,
        "message": "success",
        "data": {
            "taskId": "task_abc123xyz",
            "state": "success",
            "resultJson": '{"resultUrls":["https://cdn.apixo.ai/output/abc.mp4"]}',
            "costTime": 12500,
            "createTime": 1704067200000,
            "completeTime": 1704067212500,
        },
    }
    failure = {
        "code": 200,
        "message": "success",
        "data": {
            "taskId": "task_abc123xyz",
            "state": "failed",
            "failCode": "CONTENT_VIOLATION",
            "failMsg": "Content violates usage policy",
            "createTime": 1704067200000,
            "completeTime": 1704067205000,
        },
    }
    done = provider.parse_callback(json.dumps(success).encode())
    failed = provider.parse_callback(json.dumps(failure).encode())
    assert (done.task_id, done.state, done.completed_at) == (
        "task_abc123xyz",
        TaskState.SUCCEEDED,
        1704067212.5,
    )
    assert (failed.state, failed.error_code) == (TaskState.FAILED, "CONTENT_VIOLATION")


@pytest.mark.parametrize(
    "body", [b"\xff\xfe", b"null", b'{"code":200,"data":null}', b'{"data":{"state":"success"}}']
)
def test_parse_callback_refuses_malformed_bodies(client: httpx.AsyncClient, body: bytes) -> None:
    """Anything but a status body with a taskId is a ProviderResponseError."""
    with pytest.raises(ProviderResponseError):
        _provider(client).parse_callback(body)
