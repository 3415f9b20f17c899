"""The outbound retry schedule: exponential, jittered, for a little over a day, then give up."""

from __future__ import annotations

import random

from orchestrator.schedule import jittered

DELAYS_S: tuple[float, ...] = (5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200)
"""After attempt n (1-based) the next comes DELAYS_S[n - 1] later; ~28 h in all."""
RETRY_AFTER_CAP_S = 3600.0


def next_attempt_at(
    now: float, attempts: int, rng: random.Random, retry_after: float | None = None
) -> float | None:
    """When to try again after ``attempts`` failed attempts; None once the schedule is spent."""
    if attempts > len(DELAYS_S):
        return None
    delay = jittered(DELAYS_S[attempts - 1], rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_S))
    return now + delay
