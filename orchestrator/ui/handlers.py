"""How a dashboard route is declared: pages (GET) and actions (POST, CSRF-checked), each with
errors turned into a page rather than the API's JSON.

Every POST route is declared with ``action``: its form is read within a size limit and its CSRF
token checked before the handler runs, so no state-changing route can forget it. A request
with a bearer token carries no cookie a forged page could use, so it needs no CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.api.errors import outage_reason, status_of
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import caller
from orchestrator.ui.session import CSRF_FIELD, CSRF_HEADER

log = logging.getLogger("reelay.ui")

MAX_FORM = 256 * 1024
"""Bytes of a form the dashboard reads; its biggest (a pipeline with many extends) is far less."""

MAX_FIELDS = 1000

Page = Callable[[Request], Awaitable[Response]]
Action = Callable[[Request, FormData], Awaitable[Response]]


class Refused(Exception):
    """A dashboard request that must not go on (CSRF, a foreign origin, an oversize form).
    Answered as a page with its own status, never by the API's error handler."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def page(path: str, handler: Page, *, name: str | None = None) -> Route:
    async def endpoint(request: Request) -> Response:
        return await _answering_errors(request, lambda: handler(request))

    return Route(path, endpoint, methods=["GET", "HEAD"], name=name)


def action(path: str, handler: Action, *, name: str | None = None) -> Route:
    async def endpoint(request: Request) -> Response:
        async def run() -> Response:
            return await handler(request, await checked_form(request))

        return await _answering_errors(request, run)

    return Route(path, endpoint, methods=["POST"], name=name)


async def checked_form(request: Request) -> FormData:
    """The form, once its size, origin and CSRF token are checked."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_FORM:
        raise Refused(413, f"the form is larger than {MAX_FORM} bytes")
    who = caller(request)
    origin = request.headers.get("origin")
    if who.session is not None and origin not in (None, "null", _origin(request)):
        raise Refused(403, "this form was sent from another site; the dashboard refuses it")
    form = await _urlencoded(request)
    if who.session is not None:
        given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        if not given or not dashboard(request).sessions.csrf_ok(who.session, given):
            raise Refused(
                403,
                "the form's CSRF token is missing or out of date: reload the page and try again",
            )
    return form


async def _urlencoded(request: Request) -> FormData:
    """Every dashboard form is URL-encoded (none uploads a file), read within ``MAX_FORM``."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise Refused(415, f"the dashboard's forms are URL-encoded, not {kind}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused(413, f"the form is larger than {MAX_FORM} bytes")
    try:
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, f"the form cannot be read: {exc}") from None
    return FormData(fields)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


async def _answering_errors(request: Request, run: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await run()
    except Refused as exc:
        return error_page(request, exc.status, "Refused", str(exc))
    except Exception as exc:
        known = status_of(exc)
        if known is None:
            log.exception("dashboard page %s failed", request.url.path)
            return error_page(request, 500, "Something broke", "see reelay's log for the cause")
        status, _ = known
        reason = outage_reason(exc)
        if reason is not None:
            return error_page(request, 503, "Unavailable", f"{reason}; try again shortly")
        title = {404: "Not found", 409: "Not possible now"}.get(status, "Refused")
        return error_page(request, status, title, str(exc))


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return dashboard(request).pages.render(
        request, "error.html", {"title": title, "message": message, "status": status}, status=status
    )
