"""Generate, extend and status of every adapter against the sandbox over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.domain.values import TaskRef, TaskState, TaskStatus, VideoParams
from orchestrator.providers.base import ExtendRequest, GenerateRequest
from orchestrator.providers.errors import (
    InvalidRequest,
    SourceInvalid,
    SourceNotReady,
    TaskNotFound,
)
from tests.contract.conftest import (
    PROVIDERS,
    AdapterFactory,
    Sandbox,
    assert_mp4,
    assert_recent,
    download,
    poll_until_terminal,
    submit_base,
    submit_extend,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

UNKNOWN = {
    "apimart": "task_01KAAAAAAAAAAAAAAAAAAAAAAA",
    "octopusx": "video_00000000-0000-0000-0000-000000000000",
    "apixo": "task_00000000000000000000000000000000",
    "apifree": "video_00000000000000000000000000000000",
}

FRAME = "{images}/first.png"
LAST = "{images}/last.png"
"""Served by the ``images`` fixture on loopback; the sandbox fetches them as a provider would."""
RICH_REQUESTS = [
    (
        "apimart",
        "veo3.1-quality-official",
        VideoParams(
            aspect_ratio="9:16",
            resolution="4k",
            duration=8,
            seed=42,
            negative_prompt="blur",
            first_frame_url=FRAME,
            last_frame_url=LAST,
            generate_audio=True,
        ),
    ),
    ("apimart", "veo3.1-fast-official", VideoParams(duration=4, resolution="720p")),
    ("apimart", "veo3.1-quality", VideoParams(aspect_ratio="9:16", resolution="1080p")),
    ("apimart", "veo3.1-fast", VideoParams(duration=8, first_frame_url=FRAME)),
    (
        "octopusx",
        "veo_3_1",
        VideoParams(aspect_ratio="9:16", resolution="1080p", duration=8, generate_audio=False),
    ),
    (
        "apixo",
        "quality",
        VideoParams(aspect_ratio="9:16", seed=7, first_frame_url=FRAME, last_frame_url=LAST),
    ),
    ("apixo", "veo-3-1-fast", VideoParams(aspect_ratio="auto", duration=8, resolution="720p")),
    ("apifree", "veo-3.1", VideoParams(aspect_ratio="9:16", duration=8, resolution="720p")),
]


async def assert_playable_success(sandbox: Sandbox, observed: list[TaskStatus]) -> None:
    """The polls moved forward to SUCCEEDED, with sane times and a URL that serves an MP4."""
    assert observed[0].state in (TaskState.QUEUED, TaskState.RUNNING), "polled while running"
    allowed = {TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED}
    assert {s.state for s in observed} <= allowed, observed
    progress = [s.progress for s in observed if s.progress is not None]
    assert progress == sorted(progress)
    assert all(0 <= p <= 100 for p in progress)
    final = observed[-1]
    assert final.state is TaskState.SUCCEEDED
    assert final.progress == 100
    assert final.error_code is None
    assert_recent(final.created_at)
    assert_recent(final.completed_at)
    assert final.created_at is not None
    assert final.completed_at is not None
    assert final.created_at <= final.completed_at
    assert final.urls_expire_at is not None
    assert time.time() < final.urls_expire_at <= time.time() + 86_400 + 60
    assert final.video_urls
    assert all(url.startswith(sandbox.root + "/") for url in final.video_urls)
    assert_mp4(await download(final.video_urls[0]))


@pytest.mark.parametrize("name", PROVIDERS)
async def test_generate_then_extend_succeeds_with_a_playable_video(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A base and its extend both reach SUCCEEDED with a downloadable MP4, each submitted once."""
    await sandbox.configure(task_seconds=0.15)
    provider = adapter(name)

    base = await submit_base(provider)
    base_polls = await poll_until_terminal(provider, base)
    await assert_playable_success(sandbox, base_polls)
    assert base_polls[-1].task_id == base.task_id

    extend = await submit_extend(provider, base)
    assert extend.task_id != base.task_id
    extend_polls = await poll_until_terminal(provider, extend)
    await assert_playable_success(sandbox, extend_polls)
    assert extend_polls[-1].task_id == extend.task_id

    listing = {t["task_id"]: t for t in await sandbox.tasks(name)}
    assert set(listing) == {base.task_id, extend.task_id}
    assert [(t["kind"], t["source_task_id"], t["submit_count"]) for t in listing.values()] == [
        ("generate", None, 1),
        ("extend", base.task_id, 1),
    ]
    assert len(await sandbox.tasks()) == 2, "no other provider saw a task"


@pytest.mark.parametrize(("name", "model", "params"), RICH_REQUESTS)
async def test_parameters_the_adapter_accepts_are_accepted_by_the_provider(
    sandbox: Sandbox,
    adapter: AdapterFactory,
    images: str,
    name: str,
    model: str,
    params: VideoParams,
) -> None:
    """A generation that passes the adapter's check_params is accepted as sent and succeeds
    (an image-to-video one once the provider fetched its pictures)."""
    params = params.model_copy(
        update={
            k: getattr(params, k).format(images=images)
            for k in ("first_frame_url", "last_frame_url")
            if getattr(params, k)
        }
    )
    provider = adapter(name)
    assert provider.check_params("generate", model, params) == []

    task_id = await provider.generate(GenerateRequest(prompt="p", model=model, params=params))
    final = (await poll_until_terminal(provider, TaskRef(task_id, "generate", model)))[-1]
    assert final.state is TaskState.SUCCEEDED
    assert [t["task_id"] for t in await sandbox.tasks(name)] == [task_id]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_extend_of_a_running_source_is_source_not_ready(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """Extending a source that has not finished raises SourceNotReady and creates nothing."""
    await sandbox.configure(task_seconds=600)
    provider = adapter(name)
    base = await submit_base(provider)
    assert (await provider.status(base)).state in (TaskState.QUEUED, TaskState.RUNNING)

    with pytest.raises(SourceNotReady) as caught:
        await submit_extend(provider, base)
    assert caught.value.provider == name
    assert [t["task_id"] for t in await sandbox.tasks(name)] == [base.task_id]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_extend_of_an_unknown_source_is_source_invalid(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """Extending a task id the provider never issued raises SourceInvalid."""
    provider = adapter(name)
    model = provider.resolve_model(None, None)
    source = TaskRef(task_id=UNKNOWN[name], kind="generate", model=model)

    with pytest.raises(SourceInvalid):
        await submit_extend(provider, source)
    assert await sandbox.tasks() == []


@pytest.mark.parametrize("name", PROVIDERS)
async def test_extend_of_a_failed_source_is_source_invalid(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """Extending a task that failed on content policy raises SourceInvalid (never retryable)."""
    await sandbox.configure(content_policy_rate=1)
    provider = adapter(name)
    base = await submit_base(provider)
    assert (await poll_until_terminal(provider, base))[-1].state is TaskState.FAILED

    with pytest.raises(SourceInvalid):
        await submit_extend(provider, base)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_extend_of_an_expired_source_is_source_invalid(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """Once a source's result link has expired it can no longer be extended: SourceInvalid."""
    await sandbox.configure(url_ttl_s=0.05)
    provider = adapter(name)
    base = await submit_base(provider)
    [done] = await poll_until_terminal(provider, base)
    assert done.state is TaskState.SUCCEEDED
    await asyncio.sleep(0.1)

    assert (await download(done.video_urls[0])).status_code == 410
    with pytest.raises(SourceInvalid):
        await submit_extend(provider, base)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_status_of_an_unknown_task_is_task_not_found(
    adapter: AdapterFactory, name: str
) -> None:
    """Asking for the status of a task id the provider never issued raises TaskNotFound."""
    provider = adapter(name)
    task = TaskRef(task_id=UNKNOWN[name], kind="generate", model=provider.resolve_model(None, None))

    with pytest.raises(TaskNotFound) as caught:
        await provider.status(task)
    assert caught.value.status_code == 404


async def test_apixo_refuses_an_extend_of_an_extend(
    sandbox: Sandbox, adapter: AdapterFactory
) -> None:
    """apixo only extends base tasks: extending an extend raises SourceInvalid (depth 1)."""
    provider = adapter("apixo")
    assert provider.capabilities.max_extend_depth == 1
    base = await submit_base(provider)
    await poll_until_terminal(provider, base)
    first = await submit_extend(provider, base)
    assert (await poll_until_terminal(provider, first))[-1].state is TaskState.SUCCEEDED

    with pytest.raises(SourceInvalid) as caught:
        await submit_extend(provider, first, prompt="and further still")
    assert caught.value.status_code == 400
    assert len(await sandbox.tasks("apixo")) == 2


async def test_apixo_branches_two_extends_from_one_base(
    sandbox: Sandbox, adapter: AdapterFactory
) -> None:
    """Two different extends of the same apixo base are both accepted and both succeed."""
    provider = adapter("apixo")
    base = await submit_base(provider)
    await poll_until_terminal(provider, base)

    left = await submit_extend(provider, base, prompt="pan left")
    right = await submit_extend(provider, base, prompt="pan right")
    assert left.task_id != right.task_id
    for branch in (left, right):
        final = (await poll_until_terminal(provider, branch))[-1]
        assert final.state is TaskState.SUCCEEDED
        assert final.video_urls

    listing = {t["task_id"]: t for t in await sandbox.tasks("apixo")}
    for branch in (left, right):
        assert listing[branch.task_id]["kind"] == "extend"
        assert listing[branch.task_id]["source_task_id"] == base.task_id
        assert listing[branch.task_id]["submit_count"] == 1


async def test_apimart_extend_with_another_model_is_invalid_request(
    sandbox: Sandbox, adapter: AdapterFactory
) -> None:
    """apimart refuses a remix whose model differs from the source's, as does the adapter."""
    provider = adapter("apimart")
    base = await submit_base(provider)
    assert base.model == "veo3.1-fast"
    await poll_until_terminal(provider, base)

    with pytest.raises(InvalidRequest):
        provider.extend_model(base.model, "veo3.1-quality")
    request = ExtendRequest(source=base, prompt="continue", model="veo3.1-quality")
    with pytest.raises(InvalidRequest) as caught:
        await provider.extend(request)
    assert caught.value.status_code == 400
    assert "model" in caught.value.message
    assert len(await sandbox.tasks("apimart")) == 1
