"""A server process for bench/callbacks.py: reelay's public receiver alone, or a bare endpoint.

    python bench/_receiver_only.py --mode receiver --port P --database-url sqlite:///x.db \
        --secret S
    python bench/_receiver_only.py --mode bare --port P

``receiver`` serves ``receiver.app.create_receiver_app`` over the real store, ``CallbackInbox``,
``CallbackTokens`` and the apixo adapter's ``parse_callback``: exactly what ``reelay serve``
mounts on its public listener, without the engine and the internal API. ``bare`` serves the same
routes with handlers that only answer 200, as the baseline. Both run one uvicorn worker on
uvloop + httptools, access log off, log level warning.
"""

from __future__ import annotations

import argparse
import logging

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.common import eventloop, redact
from orchestrator.intake import CallbackInbox
from orchestrator.providers.apixo import ApixoProvider
from orchestrator.providers.config import ApixoSettings
from orchestrator.store import open_store
from receiver.app import create_receiver_app
from receiver.tokens import CallbackTokens


def bare_app() -> Starlette:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True, "message": "recorded"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/callbacks/{provider}/{token}", ok, methods=["POST"]),
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    config_kwargs = {
        "host": "127.0.0.1",
        "port": args.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
        "lifespan": "off",
        "server_header": False,
    }
    if args.mode == "bare":
        await uvicorn.Server(uvicorn.Config(bare_app(), **config_kwargs)).serve()
        return
    redact.install()
    store = await open_store(args.database_url)
    inbox = CallbackInbox(store)
    client = httpx.AsyncClient()  # never used: parse_callback makes no request
    try:
        provider = ApixoProvider(ApixoSettings(), client)
        tokens = CallbackTokens([args.secret], max_age_s=args.max_age_s)
        app = create_receiver_app(inbox, tokens, {"apixo": provider.parse_callback})
        await uvicorn.Server(uvicorn.Config(app, **config_kwargs)).serve()
    finally:
        await inbox.close()
        await store.close()
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["receiver", "bare"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--secret")
    parser.add_argument("--max-age-s", type=int, default=7 * 24 * 3600)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # uvicorn's loop="uvloop" only applies to Server.run(); serve() runs on the caller's loop,
    # which eventloop.run makes a uvloop loop.
    eventloop.run(serve(args))


if __name__ == "__main__":
    main()
