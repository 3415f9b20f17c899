"""When to poll next and when to try a refused submit again: exponential, jittered, capped."""

from __future__ import annotations

import random

from orchestrator.common import backoff
from orchestrator.domain.values import Capabilities
from orchestrator.providers.config import ProviderSettings

_GROWTH = 1.5
_JITTER = 0.2
SUBMIT_BACKOFF_BASE_S = 1.0
SUBMIT_BACKOFF_MAX_S = 300.0


def jittered(seconds: float, rng: random.Random) -> float:
    return seconds * rng.uniform(1 - _JITTER, 1 + _JITTER)


CALLBACK_MODE_POLL_FACTOR = 2.0
"""With a callback expected, the first poll only reconciles a late or lost one."""


def first_poll_at(
    now: float,
    settings: ProviderSettings,
    caps: Capabilities,
    rng: random.Random,
    *,
    callback_mode: bool = False,
) -> float:
    """Near the provider's typical completion time, not before."""
    delay = (
        settings.first_poll_s if settings.first_poll_s is not None else caps.typical_task_seconds
    )
    if callback_mode:
        delay *= CALLBACK_MODE_POLL_FACTOR
    return now + delay * rng.uniform(1.0, 1 + _JITTER)


def next_poll_at(now: float, polls: int, settings: ProviderSettings, rng: random.Random) -> float:
    """After ``polls`` polls so far: the interval grows from poll_interval_s to its ceiling."""
    interval = min(
        settings.poll_interval_s * _GROWTH ** min(polls, 30), settings.poll_max_interval_s
    )
    return now + jittered(interval, rng)


def submit_retry_at(
    now: float, attempts: int, rng: random.Random, retry_after: float | None = None
) -> float:
    """After ``attempts`` refused submits; a provider's Retry-After is honoured (capped)."""
    longest = backoff.ceiling(
        max(attempts, 1), base_s=SUBMIT_BACKOFF_BASE_S, max_s=SUBMIT_BACKOFF_MAX_S
    )
    delay = jittered(longest, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, SUBMIT_BACKOFF_MAX_S))
    return now + delay
