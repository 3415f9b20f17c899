"""One unit of provider work — a submit or a poll — and what came of it.

Performing work only talks to the provider; it never writes. Outcomes are recorded later, in
batches, by the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import logs
from orchestrator.models import Step
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider, TaskStatus
from orchestrator.providers.errors import OutcomeUnknown, ProviderError

log = logging.getLogger("reelay.engine")

CallbackUrlFor = Callable[[Step], str | None]


@dataclass(frozen=True, slots=True)
class SubmitWork:
    step: Step
    parent: Step | None


@dataclass(frozen=True, slots=True)
class PollWork:
    step: Step
    callback_body: str | None = None
    """A terminal callback to trust instead of asking (only when confirmation is off)."""


Work = SubmitWork | PollWork


@dataclass(frozen=True, slots=True)
class Submitted:
    key: tuple[str, int]
    task_id: str
    callback_mode: bool


@dataclass(frozen=True, slots=True)
class SubmitFailed:
    key: tuple[str, int]
    error: ProviderError


@dataclass(frozen=True, slots=True)
class Polled:
    key: tuple[str, int]
    status: TaskStatus


@dataclass(frozen=True, slots=True)
class PollFailed:
    key: tuple[str, int]
    error: ProviderError


Outcome = Submitted | SubmitFailed | Polled | PollFailed


async def submit(work: SubmitWork, provider: Provider, callback_url: str | None) -> Outcome:
    step = work.step
    try:
        if step.kind == "generate":
            task_id = await provider.generate(
                GenerateRequest(
                    prompt=step.prompt,
                    model=step.model,
                    params=step.params,
                    provider_options=step.provider_options,
                    callback_url=callback_url,
                )
            )
        else:
            if work.parent is None:
                raise ValueError(f"extend step {step.index} of {step.pipeline_id} has no parent")
            task_id = await provider.extend(
                ExtendRequest(
                    source=work.parent.task_ref(),
                    prompt=step.prompt,
                    model=step.model,
                    params=step.params,
                    provider_options=step.provider_options,
                    callback_url=callback_url,
                )
            )
    except ProviderError as exc:
        return SubmitFailed(step.key, exc)
    except Exception as exc:
        # A bug may have struck after the request left: treat the submit as unknown, never retry.
        return SubmitFailed(step.key, _crashed("submit", step, exc))
    return Submitted(step.key, task_id, callback_url is not None)


async def poll(work: PollWork, provider: Provider) -> Outcome:
    step = work.step
    try:
        if work.callback_body is not None:
            return Polled(step.key, provider.parse_callback(work.callback_body.encode()))
        return Polled(step.key, await provider.status(step.task_ref()))
    except ProviderError as exc:
        return PollFailed(step.key, exc)
    except Exception as exc:
        return PollFailed(step.key, _crashed("poll", step, exc))


def _crashed(what: str, step: Step, exc: Exception) -> OutcomeUnknown:
    """An unexpected exception (a bug), logged with its traceback, as an unknown outcome."""
    log.exception(
        "%s of step %s/%s crashed",
        what,
        step.pipeline_id,
        step.index,
        extra=logs.context(step.pipeline_id, step.index, provider=step.provider),
    )
    return OutcomeUnknown(f"internal error: {exc!r}", provider=step.provider)
