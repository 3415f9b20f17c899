"""Injected faults: one seeded random source drawing every fault the config asks for.

Request faults (slow answers, 429, 5xx) are drawn per submit or status request; task faults
(content-policy failure, no output, dropped or duplicated callback) are drawn once when a task
is accepted. A draw only consumes randomness when its rate is above zero, so with a fixed
``seed`` the same sequence of requests meets the same faults.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.sandbox.config import SandboxConfig
from orchestrator.sandbox.tasks import Outcome


class RequestFault(enum.Enum):
    RATE_LIMITED = 429
    SERVER_ERROR = 500


@dataclass(frozen=True, slots=True)
class RequestDraw:
    fault: RequestFault | None
    delay_s: float
    """How long to hold the answer back after the request was handled (0 = not slow)."""


@dataclass(frozen=True, slots=True)
class TaskFaults:
    outcome: Outcome
    drop_callback: bool
    duplicate_callback: bool


class FaultInjector:
    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        self._rng.seed(seed)

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def request(self, config: SandboxConfig) -> RequestDraw:
        """Whether this request is slow, and whether it must fail and how."""
        delay = config.slow_seconds if self._hit(config.slow_rate) else 0.0
        fault = None
        if self._hit(config.rate_429):
            fault = RequestFault.RATE_LIMITED
        elif self._hit(config.rate_5xx):
            fault = RequestFault.SERVER_ERROR
        return RequestDraw(fault, delay)

    def server_status(self, statuses: Sequence[int]) -> int:
        """One of the 5xx statuses a provider documents, so adapters meet each of them."""
        return statuses[0] if len(statuses) == 1 else self._rng.choice(statuses)

    def task(self, config: SandboxConfig) -> TaskFaults:
        if self._hit(config.content_policy_rate):
            outcome = Outcome.CONTENT_POLICY
        elif self._hit(config.no_output_rate):
            outcome = Outcome.NO_OUTPUT
        else:
            outcome = Outcome.SUCCESS
        return TaskFaults(
            outcome=outcome,
            drop_callback=self._hit(config.drop_callback_rate),
            duplicate_callback=self._hit(config.duplicate_callback_rate),
        )
