"""The last hour of requests to each provider, and its last errors, in bounded memory.

Two feeds, each for what it knows:

- ``observe`` is an ``orchestrator.providers.http`` observer: every exchange, with its outcome
  (the HTTP status, or the transport error's class name) and how long it took. Each lands in
  the bucket of its minute: a count, a count of failures (``health.failed``: a 5xx, a 408, a
  transport error) and a latency histogram. Only the last ``MINUTES`` buckets are kept, and a
  histogram has at most ``BINS`` bins, so what is held never grows with the request rate.
- ``error`` is told by the engine of every submit or poll that failed, with the provider's
  own code and message: the last ``RECENT_ERRORS`` of them are kept, their text scrubbed of
  keys, tokens and secrets (``common.logs.scrub``) and cut to ``MESSAGE_CHARS``.

Percentiles are read from the histograms: log-spaced bins ``GROWTH`` apart, each reported at
its geometric middle, so a p50 or p95 above 1 ms is within about 5 % of the exact one.

What this holds is this process's own requests: with several replicas, each counts its own.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from orchestrator.common.logs import scrub
from orchestrator.engine.health import failed
from orchestrator.providers.errors import ProviderError

MINUTES = 60
"""Buckets kept per provider: one per minute of the last hour."""
RECENT_ERRORS = 20
"""Errors kept per provider, newest last."""
MESSAGE_CHARS = 200
"""How much of an error's message is kept."""
GROWTH = 1.1
"""Each latency bin's upper bound over the one before (1 ms is bin 0's)."""
BINS = 1 + math.ceil(math.log(600_000) / math.log(GROWTH))
"""Bins from 1 ms to 10 minutes; anything slower lands in the last."""


def _bin(ms: float) -> int:
    if ms <= 1.0:
        return 0
    return min(BINS - 1, math.ceil(math.log(ms) / math.log(GROWTH)))


def _middle_ms(index: int) -> float:
    """What a latency in bin ``index`` is reported as: its bounds' geometric middle."""
    return 1.0 if index == 0 else GROWTH ** (index - 0.5)


@dataclass(frozen=True, slots=True)
class RecentError:
    at: float
    operation: str
    """``generate``, ``extend`` or ``status``."""
    outcome: str
    """The HTTP status, or the error's class name when no answer came."""
    message: str
    """The provider's code and message (or ours), scrubbed and cut short."""


@dataclass(frozen=True, slots=True)
class HourStats:
    """One provider's last hour: null percentiles and error rate when it made no request."""

    requests: int
    failed: int
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class _Minute:
    minute: int
    requests: int = 0
    failed: int = 0
    bins: Counter[int] = field(default_factory=Counter)


@dataclass
class _Provider:
    minutes: deque[_Minute] = field(default_factory=lambda: deque(maxlen=MINUTES))
    errors: deque[RecentError] = field(default_factory=lambda: deque(maxlen=RECENT_ERRORS))

    def minute(self, now_minute: int) -> _Minute:
        if not self.minutes or self.minutes[-1].minute != now_minute:
            self.minutes.append(_Minute(now_minute))  # the oldest falls out of the deque
        return self.minutes[-1]

    def live(self, now_minute: int) -> list[_Minute]:
        return [m for m in self.minutes if m.minute > now_minute - MINUTES]


class RequestStats:
    """Per provider, the last hour of requests and the last errors."""

    def __init__(
        self, providers: Collection[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._providers = {name: _Provider() for name in providers}

    def observe(self, provider: str, kind: str, outcome: str, seconds: float) -> None:
        """An ``orchestrator.providers.http`` observer: one exchange with ``provider``."""
        state = self._providers.get(provider)
        if state is None:
            return
        minute = state.minute(int(self._clock() // 60))
        minute.requests += 1
        minute.failed += failed(outcome) is True
        minute.bins[_bin(seconds * 1000)] += 1

    def error(self, provider: str, operation: str, error: ProviderError) -> None:
        """A submit or poll of ``provider`` failed with ``error``."""
        state = self._providers.get(provider)
        if state is None:
            return
        said = f"{error.code}: {error.message}" if error.code else error.message
        message = scrub(" ".join(said.split()))
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 1] + "…"
        state.errors.append(RecentError(self._clock(), operation, outcome_of(error), message))

    def hour(self, provider: str) -> HourStats:
        """``provider``'s requests over the last hour (in whole minutes, this one included)."""
        live = self._providers[provider].live(int(self._clock() // 60))
        requests = sum(m.requests for m in live)
        bad = sum(m.failed for m in live)
        if not requests:
            return HourStats(0, 0, None, None, None)
        bins: Counter[int] = Counter()
        for m in live:
            bins.update(m.bins)
        p50, p95 = _percentiles(bins, requests, (0.50, 0.95))
        return HourStats(requests, bad, bad / requests, p50, p95)

    def recent_errors(self, provider: str) -> list[RecentError]:
        """``provider``'s last errors, oldest first."""
        return list(self._providers[provider].errors)

    def size(self, provider: str) -> int:
        """How many counters ``provider``'s record holds: at most ``MINUTES * (BINS + 2)``."""
        return sum(2 + len(m.bins) for m in self._providers[provider].minutes)


def outcome_of(error: ProviderError) -> str:
    """The observer's word for a failure: the HTTP status, else the transport error's class
    (what the adapter raised ``from``), else the error's own class."""
    if error.status_code is not None:
        return str(error.status_code)
    cause = error.__cause__
    return type(cause if cause is not None else error).__name__


def _percentiles(bins: Counter[int], total: int, qs: tuple[float, ...]) -> list[float]:
    """Nearest-rank percentiles of the latencies counted in ``bins``, in milliseconds."""
    ranks = [max(1, math.ceil(q * total)) for q in qs]
    found: list[float] = []
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        while len(found) < len(ranks) and seen >= ranks[len(found)]:
            found.append(round(_middle_ms(index), 1))
    return found
