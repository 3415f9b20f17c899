"""Signing in and out of the dashboard."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orchestrator.api.auth import token_name
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import base
from orchestrator.ui.guard import session_cookie
from orchestrator.ui.session import COOKIE


def _next(request: Request, value: str) -> str:
    """Where to go after signing in: a path of the dashboard only (never another site)."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        value = "/pipelines"
    return f"{base(request.scope)}{value}"


async def login_page(request: Request) -> Response:
    board = dashboard(request)
    if not board.tokens:
        return RedirectResponse(f"{base(request.scope)}/pipelines", status_code=303)
    return board.pages.render(
        request, "login.html", {"next": request.query_params.get("next", "/pipelines")}
    )


async def login(request: Request, form: FormData) -> Response:
    board = dashboard(request)
    target = str(form.get("next") or "/pipelines")
    name = token_name(str(form.get("token") or ""), board.tokens)
    if name is None:
        context = {"next": target, "error": "That token is not one reelay accepts."}
        return board.pages.render(request, "login.html", context, status=401)
    response = RedirectResponse(_next(request, target), status_code=303)
    fresh = board.sessions.new(name)  # a new session id: one set before sign-in is not reused
    response.headers.append("set-cookie", session_cookie(board.sessions, fresh, request.scope))
    return response


async def logout(request: Request, form: FormData) -> Response:
    response = RedirectResponse(f"{base(request.scope)}/login", status_code=303)
    response.delete_cookie(COOKIE, path=f"{base(request.scope)}/")
    return response
