"""Whether each provider is degraded, and why: the one place that decides, and says so once.

A provider is degraded while any of these holds:

- ``failing``: its last ``STREAK`` requests failed, or most of its recent ones did (a 5xx, a
  408, or a transport error: refused, timed out, dropped). It recovers after ``RECOVER_AFTER``
  good answers in a row. Other 4xx answers (a bad request, a task not found) are the request's
  fault, not the provider's, and say nothing either way;
- ``rate_limited``: a 429 put it in a cooldown (``pressure.ProviderPressure``) that has not
  ended yet;
- ``paused``: a 402 paused its submissions until a probe succeeds.

Each change is logged once: a WARNING naming the provider and the reason when it becomes
degraded (or a new reason appears), an INFO when it has recovered. ``/readyz`` shows the same
state. Requests are learned of through the observer the runtime gives every adapter it
builds (``orchestrator.providers.http.Observers``), which times every exchange.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.common import logs
from orchestrator.domain.models import Step
from orchestrator.engine.pressure import ProviderPressure

log = logging.getLogger("reelay.health")

STREAK = 5
"""Failed requests in a row that make a provider degraded."""
WINDOW = 20
"""How many recent requests 'most recent requests' looks at..."""
MOSTLY = 0.6
"""...and what share of them failing is 'most'..."""
MIN_SAMPLES = 10
"""...once at least this many were made."""
RECOVER_AFTER = 3
"""Good answers in a row that end ``failing``."""


def failed(outcome: str) -> bool | None:
    """Whether one exchange says the provider is failing (None: it says nothing).

    ``outcome`` is what the HTTP observer reports: the HTTP status, or the error's class name.
    """
    if outcome.isdigit():
        status = int(outcome)
        if status >= 500 or status == 408:
            return True
        return None if status >= 400 else False
    if outcome in ("", "CancelledError"):
        return None  # our own shutdown, not the provider's fault
    return True


@dataclass
class _Requests:
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    streak: int = 0
    good: int = 0
    failing: bool = False
    last_error: str = ""

    def add(self, bad: bool, outcome: str) -> None:
        self.recent.append(bad)
        if bad:
            self.streak += 1
            self.good = 0
            self.last_error = outcome
        else:
            self.streak = 0
            self.good += 1
        if self.failing and self.good >= RECOVER_AFTER:
            self.failing = False
            self.recent.clear()
        elif not self.failing and bad and self._mostly_failing():
            self.failing = True

    def _mostly_failing(self) -> bool:
        if self.streak >= STREAK:
            return True
        samples = len(self.recent)
        return samples >= MIN_SAMPLES and sum(self.recent) >= MOSTLY * samples

    def describe(self) -> str:
        last = _outcome_text(self.last_error)
        if self.streak >= STREAK:
            return f"its last {self.streak} requests failed (last: {last})"
        return f"most of its recent requests failed (last: {last})"


def _outcome_text(outcome: str) -> str:
    return f"HTTP {outcome}" if outcome.isdigit() else outcome or "unknown"


class ProviderHealth:
    """Every provider's state, from its requests and its back-pressure."""

    def __init__(
        self,
        pressures: Mapping[str, ProviderPressure],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pressures = pressures
        self._clock = clock
        self._requests = {name: _Requests() for name in pressures}
        self._said: dict[str, frozenset[str]] = dict.fromkeys(pressures, frozenset())

    def observe(self, provider: str, kind: str, outcome: str, seconds: float) -> None:
        """An ``orchestrator.providers.http`` observer: one exchange with ``provider``."""
        requests = self._requests.get(provider)
        if requests is None:
            return
        bad = failed(outcome)
        if bad is not None:
            requests.add(bad, outcome)
        self.check(provider)

    def reasons(self, provider: str) -> dict[str, str]:
        """Why ``provider`` is degraded right now (empty: it is not), by reason code."""
        now = self._clock()
        pressure = self._pressures[provider]
        requests = self._requests[provider]
        found: dict[str, str] = {}
        if requests.failing:
            found["failing"] = requests.describe()
        if pressure.cooldown_until > now:
            left = pressure.cooldown_until - now
            found["rate_limited"] = f"rate-limited (429): cooling down for {left:.0f} s"
        if pressure.paused_since is not None:
            found["paused"] = "insufficient balance (402): submissions paused until a probe passes"
        return found

    def check(self, provider: str) -> dict[str, str]:
        """The current reasons, logging the change if they differ from the last ones said."""
        reasons = self.reasons(provider)
        said, now = self._said[provider], frozenset(reasons)
        if now == said:
            return reasons
        self._said[provider] = now
        extra = logs.context(provider=provider)
        new = [reasons[code] for code in sorted(now - said)]
        if new:
            log.warning("provider %s degraded: %s", provider, "; ".join(new), extra=extra)
        elif not now:
            log.info("provider %s recovered", provider, extra=extra)
        return reasons

    def degraded(self) -> dict[str, dict[str, str]]:
        """The degraded providers only, each with its reasons."""
        found = {name: self.check(name) for name in self._pressures}
        return {name: reasons for name, reasons in found.items() if reasons}

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per provider: its back-pressure, and whether (and why) it is degraded."""
        out: dict[str, dict[str, object]] = {}
        for name, pressure in self._pressures.items():
            reasons = self.check(name)
            out[name] = {
                **pressure.health(),
                "degraded": bool(reasons),
                "reasons": sorted(reasons.values()),
            }
        return out


def step_failed(step: Step) -> None:
    """Say that a step failed for good: which pipeline, step, provider, and why."""
    code = step.error.code if step.error else "UNKNOWN"
    message = step.error.message if step.error else ""
    log.warning(
        "step %d of %s failed on %s: %s %s",
        step.index,
        step.pipeline_id,
        step.provider,
        code,
        message,
        extra=logs.context(step.pipeline_id, step.index, provider=step.provider, code=code),
    )
