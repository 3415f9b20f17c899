"""Riding out an outage (of the database, mostly): try again with bounded, jittered
exponential backoff, and say so in the log once when it starts and once when it ends.

Every background loop keeps one ``Outage`` per thing it does and wraps its store calls in
``Outage.retry``; concurrent callers share the outage, so a hundred downloads waiting on the
same dead database log one WARNING between them, not a hundred tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestrator.common.database_faults import store_unavailable

T = TypeVar("T")

BASE_S = 0.1
MAX_S = 5.0


def ceiling(attempt: int, *, base_s: float = BASE_S, max_s: float = MAX_S) -> float:
    """The longest wait after the ``attempt``-th failure in a row (1, 2, ...): doubling from
    ``base_s``, capped at ``max_s``. Schedules that jitter their own way start from it."""
    return float(min(max_s, base_s * 2 ** min(attempt - 1, 30)))


def delay(
    attempt: int, rng: random.Random, *, base_s: float = BASE_S, max_s: float = MAX_S
) -> float:
    """How long to wait after the ``attempt``-th failure in a row: the ``ceiling``, jittered
    down to half so that replicas and loops that failed together do not come back together."""
    return ceiling(attempt, base_s=base_s, max_s=max_s) * rng.uniform(0.5, 1.0)


class Outage:
    """What one loop does (``what``, e.g. "claiming webhook deliveries") and whether it is
    failing now."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        base_s: float = BASE_S,
        max_s: float = MAX_S,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.what = what
        self._log = logger
        self._base_s = base_s
        self._max_s = max_s
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.failures = 0
        """Failures since the outage started (0: no outage)."""
        self._since = 0.0

    @property
    def ongoing(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException, attempt: int = 1) -> float:
        """Count a failure; log it if it starts an outage. Returns how long to wait before
        the ``attempt``-th try in a row is made again."""
        if not self.failures:
            self._since = time.monotonic()
            if store_unavailable(exc):
                self._log.warning(
                    "%s failed: %s; retrying with backoff (up to %.0f s apart) until it works",
                    self.what,
                    _describe(exc),
                    self._max_s,
                )
            else:  # not a known outage: most likely a bug, whose traceback is worth one entry
                self._log.warning(
                    "%s failed; retrying with backoff (up to %.0f s apart) until it works",
                    self.what,
                    self._max_s,
                    exc_info=exc,
                )
        self.failures += 1
        return delay(attempt, self._rng, base_s=self._base_s, max_s=self._max_s)

    def recovered(self) -> None:
        if self.failures:
            self._log.info(
                "%s works again after %d failed attempt(s) in %.1f s",
                self.what,
                self.failures,
                time.monotonic() - self._since,
            )
            self.failures = 0

    async def retry(self, call: Callable[[], Awaitable[T]], *, attempts: int | None = None) -> T:
        """``await call()`` until it returns (or, with ``attempts``, raise the last error
        after that many). Cancellation passes through at once."""
        attempt = 0
        while True:
            try:
                result = await call()
            except Exception as exc:
                attempt += 1
                if attempts is not None and attempt >= attempts:
                    raise
                await self._sleep(self.failed(exc, attempt))
                continue
            self.recovered()
            return result


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
