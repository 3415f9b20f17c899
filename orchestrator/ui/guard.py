"""Who may see the dashboard, and the headers every one of its answers carries.

A request gets in with ``Authorization: Bearer <token>`` (scripts, tests) or with a signed-in
session cookie (browsers); with no token configured, like the API, everyone gets in. Anyone
else is sent to the sign-in page (a GET) or refused (anything else). A browser without a
session is given one, so that even the sign-in form carries a CSRF token.

Every answer forbids inline scripts and framing (Content-Security-Policy) and is never cached.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.api.auth import bearer_name
from orchestrator.ui.board import BOARD, Dashboard
from orchestrator.ui.context import CALLER, Caller, base, relative_path
from orchestrator.ui.session import COOKIE, MAX_AGE_S, Session, Sessions

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
OPEN_PATHS = ("/login", "/static/")
"""Reachable before sign-in (relative to the dashboard's mount)."""
ANONYMOUS = "dashboard"


def actor_for(token_name: str | None) -> str:
    """What a browser session is called in the event log."""
    return ANONYMOUS if token_name in (None, "", "api") else f"{ANONYMOUS}:{token_name}"


class Guard:
    """The dashboard's middleware: identify the caller, let it in or not, add the headers."""

    def __init__(self, app: ASGIApp, board: Dashboard) -> None:
        self.app = app
        self.board = board
        self.sessions = board.sessions
        self.tokens = board.tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        static = relative_path(scope).startswith("/static/")
        fresh: Session | None = None
        name = bearer_name(connection, self.tokens)
        if name is not None:
            who = Caller(name, None, signed_in=True)
        else:
            session = self.sessions.load(connection.cookies.get(COOKIE))
            if session is None or (session.who is None and not self.tokens):
                session = fresh = self.sessions.new(None if self.tokens else "")
            signed_in = session.who is not None
            who = Caller(actor_for(session.who), session, signed_in)
        scope[CALLER] = who
        scope[BOARD] = self.board

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if static:  # their URLs carry a digest of their content: cache them for good
                    headers["cache-control"] = "public, max-age=31536000, immutable"
                elif fresh is not None and COOKIE not in headers.get("set-cookie", ""):
                    headers.append("set-cookie", session_cookie(self.sessions, fresh, scope))
            await send(message)

        if not who.signed_in and not relative_path(scope).startswith(OPEN_PATHS):
            if scope["method"] in ("GET", "HEAD"):
                here = quote(relative_path(scope))
                response: Response = RedirectResponse(
                    f"{base(scope)}/login?next={here}", status_code=303
                )
            else:
                response = PlainTextResponse("sign in to the dashboard first", status_code=401)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def session_cookie(sessions: Sessions, session: Session, scope: Scope) -> str:
    """``Set-Cookie`` for ``session``: signed, HttpOnly, SameSite=Strict, Secure over HTTPS."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[COOKIE] = sessions.dump(session)
    morsel = cookie[COOKIE]
    morsel["path"] = f"{base(scope)}/"
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    morsel["max-age"] = MAX_AGE_S
    if scope.get("scheme") == "https":
        morsel["secure"] = True
    return morsel.OutputString()
