from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.values import TaskRef, TaskState, TaskStatus
from orchestrator.providers.apifree import ApifreeProvider
from orchestrator.providers.apimart import ApimartProvider
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.config import ProviderSettings
from orchestrator.providers.errors import ProviderError, ProviderResponseError
from orchestrator.providers.octopusx import OctopusxProvider

Adapter = ApimartProvider | OctopusxProvider | ApixoProvider | ApifreeProvider
ADAPTERS = (ApimartProvider, OctopusxProvider, ApixoProvider, ApifreeProvider)
CALLBACK_ADAPTERS = (ApimartProvider, ApixoProvider)
FIELDS = [
    *("code", "message", "data", "id", "task_id", "taskId", "status", "state", "progress"),
    *("result", "videos", "url", "expires_at", "created", "created_at", "completed"),
    *("completed_at", "completeTime", "createTime", "error", "type", "resultJson"),
    *("resultUrls", "failCode", "failMsg", "video_url", "metadata", "output"),
]
WORDS = [
    *("completed", "success", "succeeded", "failed", "processing", "in_progress", "queued"),
    *("pending", "cancelled", "https://cdn.test/v.mp4", "{bad", "", "0"),
    '{"resultUrls":["https://r.test/v.mp4"]}',
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
    | st.sampled_from([10**400, -(10**400), float("inf"), 1e308])  # "1e999" decodes to inf
)
keys = st.sampled_from(FIELDS) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)
# Envelopes with a ``data`` object reach past the first shape check most of the time.
bodies = json_values | st.fixed_dictionaries(
    {"code": scalars, "data": st.dictionaries(keys, json_values, max_size=8)}
)
SETTINGS = ProviderSettings(base_url="https://p.test", api_key=None)
CLIENT = httpx.AsyncClient()


def _adapter(cls: type[Adapter], client: httpx.AsyncClient = CLIENT) -> Adapter:
    return cls(SETTINGS, client)


def _check(status: TaskStatus) -> None:
    assert isinstance(status.state, TaskState)
    assert status.progress is None or 0 <= status.progress <= 100
    assert status.state is not TaskState.SUCCEEDED or status.video_urls
    for when in (status.created_at, status.completed_at, status.urls_expire_at):
        assert when is None or (math.isfinite(when) and when > 0)


def _read(adapter: Adapter, body: Any, task_id: str | None) -> None:
    try:
        status = adapter.read_status(body, task_id)
    except ProviderResponseError:
        return
    _check(status)


@pytest.mark.parametrize("cls", ADAPTERS)
@settings(max_examples=200, deadline=None)
@given(body=bodies, task_id=st.none() | st.just("t1"))
def test_status_parser_total_on_any_json(
    cls: type[Adapter], body: Any, task_id: str | None
) -> None:
    """Any decoded JSON yields a consistent TaskStatus or ProviderResponseError, nothing else."""
    _read(_adapter(cls), body, task_id)


@pytest.mark.parametrize("cls", CALLBACK_ADAPTERS)
@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | bodies.map(lambda body: json.dumps(body).encode()))
def test_callback_parser_total_on_any_bytes(cls: type[Adapter], raw: bytes) -> None:
    """Any callback body, JSON or not, yields a TaskStatus or ProviderResponseError."""
    try:
        status = _adapter(cls).parse_callback(raw)
    except ProviderResponseError:
        return
    _check(status)


@pytest.mark.parametrize("cls", ADAPTERS)
@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=64) | bodies.map(lambda body: json.dumps(body).encode()))
async def test_status_over_http_total_on_any_2xx_body(cls: type[Adapter], raw: bytes) -> None:
    """A 2xx status answer with any body yields a TaskStatus or a ProviderError subclass."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    async with httpx.AsyncClient(transport=transport) as client:
        try:
            status = await _adapter(cls, client).status(TaskRef("t1", "generate", "fast"))
        except ProviderResponseError:
            return
        except ProviderError:
            # Only an error envelope inside a 2xx (``code`` 4xx/5xx) maps like an HTTP error.
            assert 400 <= json.loads(raw)["code"] < 600
            return
    _check(status)
