"""The checks every provider route runs first: the Bearer key, then injected faults.

Each provider passes its own error factory, so a refusal here has that provider's documented
body. Faults apply only where a route asks for them (submit and status, not content downloads).
A submit to a provider named in ``out_of_balance`` or ``rate_limited`` is refused (402, or 429
with Retry-After; the 429 first, as a gateway limits before it bills) before any random fault is
drawn and before the route creates a task; status polls are spared.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.sandbox.faults import RequestFault
from orchestrator.sandbox.state import SandboxState

DELAY_KEY = "reelay.sandbox.delay_s"

ErrorFactory = Callable[[int, str], Response]
"""Builds a provider's error response from an HTTP status and a message."""

_MESSAGES = {
    401: "Invalid authentication credentials",
    402: "Insufficient balance. Please top up your account",
    429: "Rate limit exceeded. Please try again later",
    500: "Internal server error. Please try again later",
    502: "Bad gateway. The server is temporarily unavailable",
    503: "Model temporarily unavailable",
}


class Guard:
    def __init__(
        self,
        state: SandboxState,
        provider: str,
        error: ErrorFactory,
        server_statuses: tuple[int, ...],
    ) -> None:
        self._state = state
        self._provider = provider
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

    def rate_limited(self) -> Response:
        response = self._error(429, _MESSAGES[429])
        response.headers["retry-after"] = str(self._state.config.retry_after_s)
        return response

    async def check(self, request: Request, *, submit: bool = False) -> Response | None:
        """The refusal for a bad key or an injected fault; ``None`` lets the route go on.

        A ``submit`` (generate or extend) also meets the provider's configured 429 storm or
        empty balance; routes call this before creating anything.
        """
        if not self.authorized(request):
            return self.unauthorized()
        config = self._state.config
        if submit and self._provider in config.rate_limited:
            return self.rate_limited()
        if submit and self._provider in config.out_of_balance:
            return self._error(402, _MESSAGES[402])
        draw = self._state.faults.request(config)
        if draw.delay_s:
            # A slow provider still does the work; only its answer is late (see DelayedAnswers).
            request.scope[DELAY_KEY] = draw.delay_s
        fault = draw.fault
        if fault is RequestFault.RATE_LIMITED:
            return self.rate_limited()
        if fault is RequestFault.SERVER_ERROR:
            status = self._state.faults.server_status(self._server_statuses)
            return self._error(status, _MESSAGES.get(status, _MESSAGES[500]))
        return None


class DelayedAnswers:
    """ASGI middleware holding back the answer of a request the guard marked slow.

    The route has already run (a submit created its task), exactly as with a real provider
    whose answer arrives after the client gave up: the ambiguous submit reelay must survive.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_late(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get(DELAY_KEY):
                await asyncio.sleep(scope[DELAY_KEY])
            await send(message)

        await self._app(scope, receive, send_late)
