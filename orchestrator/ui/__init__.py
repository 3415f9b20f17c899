"""The dashboard: server-rendered pages at ``/ui/`` on the internal listener, never the public one.

Pages are Jinja2 templates (``templates/``) with one small script (``static/app.js``) that
follows the event stream and swaps the parts of a page that changed. Everything works without
the script, only not live. ``dashboard_mount`` is the one entry: the composition root mounts it
into the internal API's app, whose services it reads.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orchestrator.api.video_routes import step_video, whole_video
from orchestrator.ui import (
    action_pages,
    create_pages,
    live,
    pipeline_pages,
    provider_pages,
    session_pages,
    webhook_pages,
)
from orchestrator.ui.board import Dashboard
from orchestrator.ui.context import base
from orchestrator.ui.guard import Guard
from orchestrator.ui.handlers import action, page
from orchestrator.ui.render import STATIC

__all__ = ["Dashboard", "dashboard_mount"]

PIPELINE = "/pipelines/{pipeline_id}"


async def _home(request: Request) -> Response:
    return RedirectResponse(f"{base(request.scope)}/pipelines", status_code=303)


def dashboard_mount(board: Dashboard, path: str = "/ui") -> Mount:
    routes = [
        Route("/", _home, methods=["GET", "HEAD"]),
        page("/login", session_pages.login_page),
        action("/login", session_pages.login),
        action("/logout", session_pages.logout),
        page("/pipelines", pipeline_pages.list_page),
        page("/pipelines/new", create_pages.new_page),
        action("/pipelines/new", create_pages.submit),
        page(PIPELINE, pipeline_pages.pipeline_page),
        action(f"{PIPELINE}/cancel", action_pages.cancel),
        action(f"{PIPELINE}/retry", action_pages.retry),
        action(f"{PIPELINE}/extend", action_pages.extend),
        page(f"{PIPELINE}/steps/{{index}}/video", step_video),
        page(f"{PIPELINE}/video", whole_video),
        Route("/events", live.events, methods=["GET"]),
        page("/providers", provider_pages.providers_page),
        page("/webhooks", webhook_pages.webhooks),
        action("/webhooks/endpoints", webhook_pages.create_endpoint),
        action("/webhooks/endpoints/{endpoint_id}/enabled", webhook_pages.toggle_endpoint),
        action("/webhooks/endpoints/{endpoint_id}/rotate", webhook_pages.rotate_secret),
        action("/webhooks/recover", webhook_pages.recover),
        page("/webhooks/messages/{message_id}", webhook_pages.message_page),
        action("/webhooks/messages/{message_id}/redeliver", webhook_pages.redeliver),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Mount(path, routes=routes, middleware=[Middleware(Guard, board=board)])
