"""The public receiver: the only listener exposed to the internet."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_receiver_app() -> Starlette:
    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
