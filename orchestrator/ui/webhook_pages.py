"""Webhooks in the dashboard: endpoints (create, enable or disable, rotate the secret) and the
outbox (each message's attempts, redeliver one, recover every failure since a time).

A new or rotated secret is shown once, on the page that answers the action, as the API does.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from orchestrator.api.services import services
from orchestrator.common.times import parse_time
from orchestrator.domain.webhooks import MessageStatus
from orchestrator.errors import Rejected
from orchestrator.ui.board import dashboard
from orchestrator.ui.context import base

PAGE_SIZE = 50
KEEP_OLD_SECRET_S = 24 * 3600.0
"""After a rotation from the dashboard the old secret signs for another day, as the API's
default, so receivers can switch over."""
MESSAGE_STATUSES = tuple(s.value for s in MessageStatus)


def _here(request: Request, **query: str) -> Response:
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"{base(request.scope)}/webhooks{suffix}", status_code=303)


async def webhooks_page(request: Request, problems: dict[str, str] | None = None) -> Response:
    hooks = services(request).webhooks
    params = request.query_params
    status = params.get("status") if params.get("status") in MESSAGE_STATUSES else None
    endpoint = params.get("endpoint") or None
    cursor = params.get("cursor") or None
    endpoints = await hooks.list_endpoints()
    if endpoint is not None and endpoint not in {e.id for e in endpoints} | {"pipeline"}:
        endpoint = None
    messages = await hooks.messages(
        destination=endpoint, pipeline_id=None, status=status, cursor=cursor, limit=PAGE_SIZE
    )
    query = {k: v for k, v in (("status", status), ("endpoint", endpoint)) if v}
    return dashboard(request).pages.render(
        request,
        "webhooks.html",
        {
            "endpoints": endpoints,
            "messages": messages,
            "status": status,
            "endpoint": endpoint,
            "statuses": MESSAGE_STATUSES,
            "next_page": f"?{urlencode(query | {'cursor': messages[-1].id})}"
            if len(messages) == PAGE_SIZE
            else None,
            "recovered": params.get("recovered"),
            "problems": problems or {},
            "form": {},
        },
        status=422 if problems else 200,
        nav="webhooks",
    )


async def webhooks(request: Request) -> Response:
    return await webhooks_page(request)


async def create_endpoint(request: Request, form: FormData) -> Response:
    url = str(form.get("url") or "").strip()
    description = str(form.get("description") or "").strip()
    types = [t.strip() for t in str(form.get("event_types") or "").split(",") if t.strip()]
    problems: dict[str, str] = {}
    if not url.startswith(("http://", "https://")):
        problems["url"] = "must be an http(s) URL"
    elif len(url) > 2048:
        problems["url"] = "must be at most 2048 characters"
    if len(description) > 500:
        problems["description"] = "must be at most 500 characters"
    if not problems:
        try:
            endpoint, secret = await services(request).webhooks.create(
                url, types, description, enabled=True
            )
        except Rejected as exc:
            problems = {p.field: p.message for p in exc.problems} or {"url": str(exc)}
        else:
            return _secret_page(request, endpoint.id, endpoint.url, secret, created=True)
    return await webhooks_page(request, problems)


async def toggle_endpoint(request: Request, form: FormData) -> Response:
    enable = form.get("enabled") == "yes"
    endpoint_id = request.path_params["endpoint_id"]
    await services(request).webhooks.update(endpoint_id, enabled=enable)
    return _here(request)


async def rotate_secret(request: Request, form: FormData) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    endpoint, secret = await services(request).webhooks.rotate_secret(
        endpoint_id, KEEP_OLD_SECRET_S
    )
    return _secret_page(request, endpoint.id, endpoint.url, secret, created=False)


def _secret_page(
    request: Request, endpoint_id: str, url: str, secret: str, *, created: bool
) -> Response:
    context = {"endpoint_id": endpoint_id, "url": url, "secret": secret, "created": created}
    return dashboard(request).pages.render(request, "secret.html", context, nav="webhooks")


async def message_page(request: Request) -> Response:
    message, attempts = await services(request).webhooks.message(request.path_params["message_id"])
    context = {
        "m": message,
        "attempts": list(reversed(attempts)),
        "payload": _pretty(message.payload),
    }
    return dashboard(request).pages.render(request, "message.html", context, nav="webhooks")


def _pretty(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


async def redeliver(request: Request, form: FormData) -> Response:
    message_id = request.path_params["message_id"]
    await services(request).webhooks.redeliver(message_id)
    return RedirectResponse(f"{base(request.scope)}/webhooks/messages/{message_id}", 303)


async def recover(request: Request, form: FormData) -> Response:
    since_text = str(form.get("since") or "").strip()
    try:
        since = parse_time(since_text, end_of_day=False)
    except ValueError:
        problem = f"{since_text!r} is not a date or time (2026-12-04T09:00)"
        return await webhooks_page(request, {"since": problem})
    count = await services(request).webhooks.redeliver_failed_since(since, None)
    return _here(request, recovered=str(count))
