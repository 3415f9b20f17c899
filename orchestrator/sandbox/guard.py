"""The checks every provider route runs first: the Bearer key, then injected faults.

Each provider passes its own error factory, so a refusal here has that provider's documented
body. Faults apply only where a route asks for them (submit and status, not content downloads).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from orchestrator.sandbox.faults import RequestFault
from orchestrator.sandbox.state import SandboxState

ErrorFactory = Callable[[int, str], Response]
"""Builds a provider's error response from an HTTP status and a message."""

_MESSAGES = {
    401: "Invalid authentication credentials",
    429: "Rate limit exceeded. Please try again later",
    500: "Internal server error. Please try again later",
    502: "Bad gateway. The server is temporarily unavailable",
    503: "Model temporarily unavailable",
}


class Guard:
    def __init__(
        self, state: SandboxState, error: ErrorFactory, server_statuses: tuple[int, ...]
    ) -> None:
        self._state = state
        self._error = error
        self._server_statuses = server_statuses

    def authorized(self, request: Request) -> bool:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        expected = self._state.config.api_key
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def unauthorized(self) -> Response:
        return self._error(401, _MESSAGES[401])

    async def check(self, request: Request) -> Response | None:
        """The refusal for a bad key or an injected fault; ``None`` lets the route go on."""
        if not self.authorized(request):
            return self.unauthorized()
        fault = await self._state.faults.request(self._state.config)
        if fault is RequestFault.RATE_LIMITED:
            response = self._error(429, _MESSAGES[429])
            response.headers["retry-after"] = str(self._state.config.retry_after_s)
            return response
        if fault is RequestFault.SERVER_ERROR:
            status = self._state.faults.server_status(self._server_statuses)
            return self._error(status, _MESSAGES.get(status, _MESSAGES[500]))
        return None
