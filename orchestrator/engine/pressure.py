"""Back-pressure per provider account: what the provider told us about how hard to push.

- 429: a cooldown for the whole provider until its Retry-After, and the request window halves;
  every success grows it back by one (additive increase, multiplicative decrease).
- 402: submissions to the provider pause; one probe submit is let through per interval, and
  the first success resumes them. Waiting steps stay pending instead of failing. When the
  last probe was sent and what came of it are kept (``probed``) for the providers report.
- An optional request rate per provider key, as a token bucket.

Whether a provider is degraded, and the log lines saying so, are ``orchestrator.engine.health``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("reelay.pressure")

BALANCE_PROBE_S = 60.0
COOLDOWN_CAP_S = 600.0


@dataclass
class ProviderPressure:
    name: str
    max_window: int
    rate_per_s: float | None = None
    window: int = 0
    cooldown_until: float = 0.0
    paused_since: float | None = None
    next_probe_at: float = 0.0
    last_probe_at: float | None = None
    last_probe_result: str | None = None
    """``succeeded``, ``insufficient_balance`` or ``failed`` (another error)."""
    _tokens: float = 0.0
    _tokens_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.window = self.max_window
        self._tokens = self.rate_per_s or 0.0

    def request_slots(self, now: float) -> int:
        """How many requests the engine may have in flight to this provider right now."""
        return 0 if now < self.cooldown_until else self.window

    def submits_allowed(self, now: float) -> int | None:
        """None: no limit beyond the window; 0: paused; 1: a balance probe is due."""
        if self.paused_since is None:
            return None
        if now >= self.next_probe_at:
            self.next_probe_at = now + BALANCE_PROBE_S
            return 1
        return 0

    def rate_limited(self, now: float, retry_after: float | None) -> None:
        self.window = max(1, self.window // 2)
        if retry_after is not None:
            self.cooldown_until = max(self.cooldown_until, now + min(retry_after, COOLDOWN_CAP_S))
        log.debug(
            "%s rate-limited us: window %d, cooling down until %.0f",
            self.name,
            self.window,
            self.cooldown_until,
        )

    def succeeded(self, submit: bool) -> None:
        self.window = min(self.max_window, self.window + 1)
        if submit and self.paused_since is not None:
            log.debug("%s accepts submits again: resuming", self.name)
            self.paused_since = None

    def out_of_balance(self, now: float) -> None:
        if self.paused_since is None:
            log.debug(
                "%s answered 402 (insufficient balance): submissions paused, probing every %.0f s",
                self.name,
                BALANCE_PROBE_S,
            )
            self.paused_since = now
        self.next_probe_at = max(self.next_probe_at, now + BALANCE_PROBE_S)

    def probed(self, at: float, result: str) -> None:
        """A submit sent at ``at`` while paused (the probe) was answered with ``result``."""
        self.last_probe_at = at
        self.last_probe_result = result

    def take_tokens(self, now: float, wanted: int) -> int:
        """Up to ``wanted`` requests of the rate budget, taken now without waiting."""
        if not self.rate_per_s:
            return wanted
        elapsed = max(0.0, now - self._tokens_at)
        burst = max(1.0, self.rate_per_s)
        self._tokens = min(burst, self._tokens + elapsed * self.rate_per_s)
        self._tokens_at = now
        taken = min(wanted, int(self._tokens))
        self._tokens -= taken
        return taken

    async def take_token(self, clock: Callable[[], float]) -> None:
        """Wait for the request-rate budget (no-op without a rate)."""
        if not self.rate_per_s:
            return
        async with self._lock:
            while True:
                now = clock()
                elapsed = max(0.0, now - self._tokens_at)
                self._tokens = min(self.rate_per_s, self._tokens + elapsed * self.rate_per_s)
                self._tokens_at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate_per_s)

    def health(self) -> dict[str, object]:
        return {
            "window": self.window,
            "cooling_down_until": self.cooldown_until or None,
            "submissions_paused": self.paused_since is not None,
            "paused_reason": "insufficient balance (402)" if self.paused_since else None,
        }
