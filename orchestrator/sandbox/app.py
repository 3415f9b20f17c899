"""The sandbox app factory: all four providers' APIs, result links and control routes in one app.

Each provider keeps its real base-URL path after its prefix, so pointing reelay at the sandbox
is only a base-URL change (port 9000 is what ``run`` uses by default)::

    REELAY_APIMART_BASE_URL=http://127.0.0.1:9000/apimart
    REELAY_OCTOPUSX_BASE_URL=http://127.0.0.1:9000/octopusx
    REELAY_APIXO_BASE_URL=http://127.0.0.1:9000/apixo/api/v1
    REELAY_APIFREE_BASE_URL=http://127.0.0.1:9000/apifree

The lifespan owns callback delivery: it runs the dispatcher with the injected client, or with
one it creates and closes itself, and cancels undelivered callbacks on shutdown. It also owns
the client that fetches first-frame images (``images``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from orchestrator.common.transport import AiohttpTransport
from orchestrator.sandbox import apifree, apimart, apixo, control, media, octopusx
from orchestrator.sandbox.config import SandboxConfig
from orchestrator.sandbox.guard import DelayedAnswers
from orchestrator.sandbox.state import SandboxState


def create_sandbox_app(
    config: SandboxConfig,
    *,
    callback_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """An ASGI app emulating apimart, octopusx, apixo and apifree.

    ``clock`` gives epoch seconds; every reported time, task progression and link expiry reads
    it, so tests can move time without sleeping. Callback *delivery* waits in real time.
    """
    state = SandboxState(config, clock)
    routes: list[BaseRoute] = [
        *apimart.routes(state),
        *octopusx.routes(state),
        *apixo.routes(state),
        *apifree.routes(state),
        *media.routes(state),
        *control.routes(state),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            client = callback_client
            if client is None:
                client = await stack.enter_async_context(
                    httpx.AsyncClient(transport=AiohttpTransport(max_connections=256))
                )
            await stack.enter_async_context(state.callbacks.running(client))
            await stack.enter_async_context(state.images.running())
            yield

    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(DelayedAnswers)])
    app.state.sandbox = state
    return app
