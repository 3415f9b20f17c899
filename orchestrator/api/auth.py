"""The bearer tokens: every route not declared ``public`` needs one of the configured tokens
(``REELAY_API_TOKEN``, named ``api``, and the named ``REELAY_API_TOKENS``), when any is set.

The name of the token a request came with is its *actor*: who did what it does, as the audit
events (``action.*``) record it. With no token configured, every request is ``anonymous``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.services import services
from orchestrator.errors import Unauthorized

ANONYMOUS = "anonymous"
"""The actor of every request when no token is configured."""
_ACTOR = "actor"
"""The key of the actor in the request's state (``scope["state"]``)."""


class RequireToken:
    """Route middleware: the request reaches the route only with ``Authorization: Bearer``
    and one of the configured tokens (compared in constant time), whose name becomes the
    request's actor."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        tokens = services(connection).api_tokens
        name = ANONYMOUS if not tokens else bearer_name(connection, tokens)
        if name is None:
            raise Unauthorized("missing or invalid bearer token (REELAY_API_TOKEN(S))")
        scope.setdefault("state", {})[_ACTOR] = name
        await self.app(scope, receive, send)


def bearer_name(connection: HTTPConnection, tokens: Mapping[str, str]) -> str | None:
    """The name of the token in ``Authorization: Bearer``, or None when it is none of them.

    Every token is compared, in constant time, whichever matches: how long the check takes
    says nothing about which token, or how much of one, was guessed."""
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token_name(given, tokens)


def token_name(given: str, tokens: Mapping[str, str]) -> str | None:
    """The name of the token ``given`` is, or None; compared in constant time against each."""
    found = None
    if given:
        for name, token in tokens.items():
            if hmac.compare_digest(given.encode(), token.encode()):
                found = name
    return found


def actor(connection: HTTPConnection) -> str:
    """Who made this request: its token's name, or ``anonymous`` when no token is configured.

    Only routes behind ``RequireToken`` (every route not ``public``) have one."""
    found = connection.scope.get("state", {}).get(_ACTOR)
    assert isinstance(found, str), "the route is not behind RequireToken"
    return found
