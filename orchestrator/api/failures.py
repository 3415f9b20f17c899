"""The API's one exception handler: every error becomes the JSON error shape.

An error of ``orchestrator.errors`` gets its status from ``api.errors``. A database outage (a
restart, a full disk, a shutdown under way) is not a bug: ``503 unavailable`` with a short
reason and ``Retry-After``, and the log gets one WARNING every few seconds while it lasts, not
a traceback per request. Any other exception is a bug: ``500 internal`` in the same shape, with
its traceback logged.

A 503 may come after a commit whose acknowledgement was lost (the pipeline was stored, then a
read failed): clients retry creates with ``Idempotency-Key``, which makes the retry safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.errors import error_response, internal_error, outage_reason

log = logging.getLogger("reelay.api")

LOG_EVERY_S = 5.0


class Throttle:
    """Lets one event through every ``every_s`` seconds; counts the ones held back."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self.held = 0

    def allow(self) -> int | None:
        """None: hold this one back. Otherwise how many were held back since the last."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            self.held += 1
            return None
        self._last, held, self.held = now, self.held, 0
        return held


class Failures:
    """ASGI middleware around every route: an exception becomes its JSON answer."""

    def __init__(self, app: ASGIApp, throttle: Throttle | None = None) -> None:
        self.app = app
        self.throttle = throttle or Throttle(LOG_EVERY_S)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            reason = outage_reason(exc)
            if reason is not None:
                self._say(reason, exc)
                if started:  # a stream cut short: its client reconnects
                    return
            response = None if started else error_response(exc)
            if response is None:
                log.exception("%s %s failed", scope["method"], scope["path"])
                if started:
                    raise
                response = internal_error()
            await response(scope, receive, send)

    def _say(self, reason: str, exc: Exception) -> None:
        held = self.throttle.allow()
        if held is None:
            return
        more = f" ({held} more since the last line)" if held else ""
        log.warning(
            "database unavailable: %s (%s: %s); the API answers 503%s",
            reason,
            type(exc).__name__,
            exc,
            more,
        )
