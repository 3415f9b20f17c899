"""The bearer token: every route not declared ``public`` needs ``REELAY_API_TOKEN``, when set."""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.services import services
from orchestrator.errors import Unauthorized


class RequireToken:
    """Route middleware: the request reaches the route only with ``Authorization: Bearer``
    and the configured token (compared in constant time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        token = services(connection).api_token
        if token is not None and not bearer_matches(connection, token):
            raise Unauthorized("missing or invalid bearer token (REELAY_API_TOKEN)")
        await self.app(scope, receive, send)


def bearer_matches(connection: HTTPConnection, token: str) -> bool:
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
