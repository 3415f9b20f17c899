"""Performing a claimed unit of provider work — a submit or a poll — and what came of it.

Performing work only talks to the provider; it never writes. Outcomes are recorded later, in
batches (``orchestrator.engine.record``). What each answer says about how hard to push the
provider is fed to its back-pressure and health here, and every failure, with its message, to
the provider's request record (``request_stats``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.common import logs
from orchestrator.domain.models import Step
from orchestrator.domain.values import TaskStatus
from orchestrator.engine.health import ProviderHealth
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.engine.request_stats import RequestStats
from orchestrator.providers import errors as pe
from orchestrator.providers.base import ExtendRequest, GenerateRequest, Provider
from orchestrator.providers.errors import OutcomeUnknown, ProviderError

log = logging.getLogger("reelay.engine")

CallbackUrlFor = Callable[[Step], str | None]
FrameUrlFor = Callable[[str], str]
"""The public URL a provider fetches a stored frame (PNG) from, given its storage key."""


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


class Performer:
    """Performs claimed work against its provider, within the provider's request rate."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        pressure: Mapping[str, ProviderPressure],
        health: ProviderHealth,
        stats: RequestStats,
        *,
        clock: Callable[[], float],
        callback_url_for: CallbackUrlFor | None = None,
        frame_url_for: FrameUrlFor | None = None,
    ) -> None:
        self._providers = providers
        self._pressure = pressure
        self._health = health
        self._stats = stats
        self._clock = clock
        self._callback_url_for = callback_url_for
        self._frame_url_for = frame_url_for

    async def perform(self, item: Work) -> Outcome:
        provider = self._providers[item.step.provider]
        pressure = self._pressure[item.step.provider]
        probe_at: float | None = None
        if isinstance(item, PollWork):
            await pressure.take_token(self._clock)
            outcome = await poll(item, provider)
        else:
            url = None
            if self._callback_url_for is not None and provider.capabilities.callbacks:
                url = self._callback_url_for(item.step)
            if pressure.paused_since is not None:  # only a probe is let through while paused
                probe_at = self._clock()
            outcome = await submit(item, provider, url, self._frame_url_for)
        self._feel(pressure, outcome)
        error = outcome.error if isinstance(outcome, SubmitFailed | PollFailed) else None
        if error is not None:
            operation = "status" if isinstance(item, PollWork) else item.step.kind
            self._stats.error(pressure.name, operation, error)
        if probe_at is not None:
            pressure.probed(probe_at, _probe_result(error))
        return outcome

    def _feel(self, pressure: ProviderPressure, outcome: Outcome) -> None:
        error = outcome.error if isinstance(outcome, SubmitFailed | PollFailed) else None
        if isinstance(error, pe.RateLimited):
            pressure.rate_limited(self._clock(), error.retry_after)
        elif isinstance(error, pe.InsufficientBalance):
            pressure.out_of_balance(self._clock())
        elif error is None:
            pressure.succeeded(submit=isinstance(outcome, Submitted))
        self._health.check(pressure.name)


def _probe_result(error: ProviderError | None) -> str:
    if error is None:
        return "succeeded"
    return "insufficient_balance" if isinstance(error, pe.InsufficientBalance) else "failed"


async def submit(
    work: SubmitWork,
    provider: Provider,
    callback_url: str | None,
    frame_url_for: FrameUrlFor | None = None,
) -> Outcome:
    step = work.step
    try:
        if step.kind == "generate":
            params = step.params
            if step.continues:
                params = params.model_copy(
                    update={"first_frame_url": _frame_url(step, provider, frame_url_for)}
                )
            task_id = await provider.generate(
                GenerateRequest(
                    prompt=step.prompt,
                    model=step.model,
                    params=params,
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


def _frame_url(step: Step, provider: Provider, frame_url_for: FrameUrlFor | None) -> str:
    """Where the provider fetches a continuation's first frame; refused (nothing was sent)
    when reelay cannot publish it."""
    if frame_url_for is None or step.first_frame is None:
        raise pe.InvalidRequest(
            "a continuation's first frame is published on the public receiver, and "
            "REELAY_PUBLIC_URL is not set"
            if frame_url_for is None
            else "the continuation's first frame was not extracted",
            provider=provider.name,
        )
    return frame_url_for(step.first_frame)


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
