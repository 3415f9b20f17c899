"""What each provider is doing right now: one report from health, back-pressure, the request
record and the store, for the API's ``GET /v1/providers`` and the dashboard.

Where each number comes from, and whose it is:

- ``in_flight``: the store, across every replica: tasks submitted or running (``StepStatus
  .in_flight``), counted per provider by one grouped ``COUNT`` that the ``(status, provider)``
  index answers without reading a step. Back-pressure keeps no task count (its window counts
  requests, not tasks), so the store is the one exact source;
- ``window``, the cooldown, the pause and its probes: this replica's back-pressure
  (``pressure``);
- ``degraded`` and ``reasons``: ``health``, which says a change in the log as ``/readyz`` does;
- the last hour's requests, latency, error rate and recent errors: this replica's requests
  (``request_stats``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from orchestrator.engine.health import ProviderHealth
from orchestrator.engine.pressure import ProviderPressure
from orchestrator.engine.request_stats import RecentError, RequestStats
from orchestrator.store import Store


@dataclass(frozen=True, slots=True)
class ProviderState:
    name: str
    configured: bool
    """An API key is set for it (``REELAY_<P>_API_KEY``)."""
    degraded: bool
    reasons: tuple[str, ...]
    in_flight: int
    window: int
    """Requests this replica may have in flight to it at once (halved by a 429)."""
    cooldown_until: float | None
    """The end of a 429 cooldown still running; None when there is none."""
    paused: bool
    paused_at: float | None
    last_probe_at: float | None
    last_probe_result: str | None
    requests_last_hour: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    recent_errors: tuple[RecentError, ...]


class ProviderReport:
    def __init__(
        self,
        store: Store,
        pressure: Mapping[str, ProviderPressure],
        health: ProviderHealth,
        stats: RequestStats,
        *,
        configured: Mapping[str, bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._pressure = pressure
        self._health = health
        self._stats = stats
        self._configured = configured
        self._clock = clock

    async def states(self) -> list[ProviderState]:
        """Every provider's state, in the order the providers were given."""
        in_flight = await self._store.in_flight_by_provider()
        now = self._clock()
        return [
            self._state(name, p, in_flight.get(name, 0), now) for name, p in self._pressure.items()
        ]

    def _state(
        self, name: str, pressure: ProviderPressure, in_flight: int, now: float
    ) -> ProviderState:
        reasons = self._health.check(name)
        hour = self._stats.hour(name)
        return ProviderState(
            name=name,
            configured=self._configured.get(name, False),
            degraded=bool(reasons),
            reasons=tuple(sorted(reasons.values())),
            in_flight=in_flight,
            window=pressure.window,
            cooldown_until=pressure.cooldown_until if pressure.cooldown_until > now else None,
            paused=pressure.paused_since is not None,
            paused_at=pressure.paused_since,
            last_probe_at=pressure.last_probe_at,
            last_probe_result=pressure.last_probe_result,
            requests_last_hour=hour.requests,
            error_rate=hour.error_rate,
            latency_p50_ms=hour.p50_ms,
            latency_p95_ms=hour.p95_ms,
            recent_errors=tuple(self._stats.recent_errors(name)),
        )
