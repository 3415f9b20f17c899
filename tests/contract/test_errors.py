"""Error mapping of every adapter against the sandbox's refusals and injected faults, over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestrator.domain.values import TaskRef, TaskState
from orchestrator.providers.errors import (
    AuthError,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
)
from orchestrator.providers.states import NO_OUTPUT
from tests.contract.conftest import (
    KEY,
    PROVIDERS,
    AdapterFactory,
    Sandbox,
    assert_mp4,
    download,
    is_content_route,
    poll_until_terminal,
    submit_base,
)
from tests.eventually import eventually
from tests.loopback import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTENT_POLICY_CODE = {
    "apimart": "content_policy_violation",
    "octopusx": "content_policy_violation",
    "apixo": "CONTENT_VIOLATION",
    "apifree": "content_policy_violation",
}
TIMEOUT_S = 0.5
SLOW_S = 1.0
"""The sandbox (in this event loop) starts its wait after the request arrived, so the
adapter's read timeout always fires first, however slow the machine. TIMEOUT_S also bounds
connecting, which must succeed: it leaves room for a machine busy elsewhere."""


def some_task(name: str) -> TaskRef:
    return TaskRef(task_id="task_0", kind="generate", model="fast" if name == "apixo" else "m")


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_wrong_api_key_is_auth_error(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A key the provider does not accept makes submit and status raise AuthError."""
    await sandbox.configure(api_key="the-real-key")
    provider = adapter(name)

    with pytest.raises(AuthError) as caught:
        await submit_base(provider)
    assert caught.value.status_code == 401
    with pytest.raises(AuthError):
        await provider.status(some_task(name))
    assert await sandbox.tasks() == []


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_missing_api_key_is_auth_error(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """With no key configured the adapter sends no Authorization and the 401 is AuthError."""
    provider = adapter(name, api_key=None)

    with pytest.raises(AuthError) as caught:
        await submit_base(provider)
    assert caught.value.status_code == 401
    assert await sandbox.tasks() == []


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_429_is_rate_limited_with_the_retry_after(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A 429 raises RateLimited carrying the provider's Retry-After seconds."""
    await sandbox.configure(rate_429=1, retry_after_s=7)
    provider = adapter(name)

    with pytest.raises(RateLimited) as caught:
        await submit_base(provider)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 7.0
    with pytest.raises(RateLimited):
        await provider.status(some_task(name))


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_5xx_is_provider_unavailable(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """Every 5xx the provider answers raises ProviderUnavailable, on submit and on status."""
    await sandbox.configure(rate_5xx=1)
    provider = adapter(name)

    statuses = set()
    for _ in range(6):
        with pytest.raises(ProviderUnavailable) as caught:
            await submit_base(provider)
        statuses.add(caught.value.status_code)
    assert all(s is not None and 500 <= s < 600 for s in statuses), statuses
    with pytest.raises(ProviderUnavailable):
        await provider.status(some_task(name))


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_content_policy_refusal_ends_the_task_failed(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A task refused on content policy ends FAILED with the provider's policy code, no URL."""
    await sandbox.configure(content_policy_rate=1)
    provider = adapter(name)
    task = await submit_base(provider)

    final = (await poll_until_terminal(provider, task))[-1]
    assert final.state is TaskState.FAILED
    assert final.error_code == CONTENT_POLICY_CODE[name]
    assert final.error_message
    assert final.video_urls == ()
    assert final.urls_expire_at is None


@pytest.mark.parametrize("name", ["apimart", "apixo"])
async def test_a_success_without_output_fails_with_no_output(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """apimart and apixo successes that carry no video URL are FAILED with NO_OUTPUT (D5)."""
    await sandbox.configure(no_output_rate=1)
    provider = adapter(name)
    task = await submit_base(provider)

    final = (await poll_until_terminal(provider, task))[-1]
    assert final.state is TaskState.FAILED
    assert final.error_code == NO_OUTPUT
    assert final.video_urls == ()


@pytest.mark.parametrize("name", ["octopusx", "apifree"])
async def test_a_success_without_output_falls_back_to_the_content_route(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """octopusx and apifree fall back to ``/content``, which serves the MP4 only with the key."""
    await sandbox.configure(no_output_rate=1)
    provider = adapter(name)
    task = await submit_base(provider)

    final = (await poll_until_terminal(provider, task))[-1]
    assert final.state is TaskState.SUCCEEDED
    [url] = final.video_urls
    assert url == f"{sandbox.base_url(name)}/v1/videos/{task.task_id}/content"
    assert is_content_route(url)
    assert final.urls_expire_at is not None
    assert final.urls_expire_at > time.time()
    assert_mp4(await download(url, key=KEY))
    assert (await download(url, key=None)).status_code == 401


async def created_tasks(sandbox: Sandbox, name: str) -> list[dict[str, Any]] | None:
    return await sandbox.tasks(name) or None


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_read_timeout_on_submit_is_outcome_unknown_and_the_task_exists(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A submit answered too late raises OutcomeUnknown, yet the provider did create the task.

    The adapter cannot have waited for the slow answer: that answer would have been a task id.
    """
    await sandbox.configure(slow_rate=1, slow_seconds=SLOW_S)
    provider = adapter(name, timeout_s=TIMEOUT_S)

    with pytest.raises(OutcomeUnknown) as caught:
        await submit_base(provider)
    assert not isinstance(caught.value, RequestNotSent)
    assert caught.value.provider == name
    # This is why a read timeout must never count as "not sent": resending would pay twice.
    [task] = await eventually(lambda: created_tasks(sandbox, name), what="the created task")
    assert (task["kind"], task["submit_count"]) == ("generate", 1)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_read_timeout_on_status_is_outcome_unknown(
    sandbox: Sandbox, adapter: AdapterFactory, name: str
) -> None:
    """A status poll whose answer does not come in time raises OutcomeUnknown."""
    provider = adapter(name)
    task = await submit_base(provider)
    await sandbox.configure(slow_rate=1, slow_seconds=SLOW_S)

    with pytest.raises(OutcomeUnknown):
        await adapter(name, timeout_s=TIMEOUT_S).status(task)
    await sandbox.configure(slow_rate=0)
    assert (await provider.status(task)).state is TaskState.SUCCEEDED


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_refused_connection_is_request_not_sent(adapter: AdapterFactory, name: str) -> None:
    """Nothing listening on the port: submit and status raise RequestNotSent, safe to repeat."""
    provider = adapter(name, base_url=f"http://127.0.0.1:{free_port()}/api")

    with pytest.raises(RequestNotSent) as caught:
        await submit_base(provider)
    assert caught.value.provider == name
    with pytest.raises(RequestNotSent):
        await provider.status(some_task(name))
