"""The public receiver: the only listener exposed to the internet.

It serves provider callbacks, the frames continuations start from (``receiver/frames.py``)
and ``GET /healthz``, nothing else. A callback is accepted only
on a URL reelay minted (a signed token naming the step and provider), is parsed by that
provider's adapter, recorded durably once, and acknowledged; acting on it is the engine's job.
Every byte is treated as hostile: the token is checked before the body is read, the body is
capped and must arrive within a deadline, and errors say nothing about whether a task exists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.domain.callbacks import Callback, Inbox, Verdict
from orchestrator.domain.values import TaskStatus
from orchestrator.providers.errors import ProviderResponseError
from receiver.body import BadContentLength, BodyTimeout, BodyTooLarge, read_capped
from receiver.frames import FrameSource, FrameTokens, frame_route
from receiver.tokens import CallbackTokens, InvalidToken

log = logging.getLogger("reelay.receiver")

MAX_BODY = 64 * 1024
BODY_TIMEOUT_S = 10.0

Parser = Callable[[bytes], TaskStatus]


def _answer(status: int, message: str, *, close: bool = False) -> Response:
    headers = {"Connection": "close"} if close else None
    return JSONResponse(
        {"ok": status < 300, "message": message}, status_code=status, headers=headers
    )


def create_receiver_app(
    inbox: Inbox | None = None,
    tokens: CallbackTokens | None = None,
    parsers: Mapping[str, Parser] | None = None,
    *,
    on_reject: Callable[[str, str], None] = lambda provider, reason: None,
    on_accept: Callable[[str], None] = lambda provider: None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    frames: tuple[FrameTokens, FrameSource] | None = None,
) -> Starlette:
    """Without an inbox and tokens (callbacks not configured) only ``/healthz`` is served;
    ``frames`` serves ``/frames/<token>.png``.

    ``on_reject(provider, reason)`` and ``on_accept(provider)`` count outcomes (the metrics);
    a provider name nobody configured arrives as ``unknown``, so a URL cannot mint new labels.
    A body not received whole within ``body_timeout_s`` is answered 408.
    """
    parsers = dict(parsers or {})

    def known(provider: str) -> str:
        return provider if provider in parsers else "unknown"  # never echo URL text into logs

    def reject(
        provider: str, reason: str, status: int, message: str, *, close: bool = False
    ) -> Response:
        on_reject(known(provider), reason)
        log.info("callback refused: provider=%s reason=%s", known(provider), reason)
        return _answer(status, message, close=close)

    async def callback(request: Request) -> Response:
        provider = request.path_params["provider"]
        parse = parsers.get(provider)
        if inbox is None or tokens is None or parse is None:
            return reject(provider, "unknown_provider", 404, "not found")
        try:
            target = tokens.verify(request.path_params["token"], provider)
        except InvalidToken:
            return reject(provider, "bad_token", 401, "invalid callback URL")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return reject(provider, "content_type", 415, "expected application/json")
        try:
            body = await read_capped(request, MAX_BODY, body_timeout_s)
        except BodyTimeout:
            # The rest of the body may still come; closing keeps it from being read as a request.
            return reject(
                provider, "body_timeout", 408, "callback body not received in time", close=True
            )
        except ClientDisconnect:
            on_reject(known(provider), "disconnected")
            log.debug("callback client disconnected mid-body: provider=%s", known(provider))
            return _answer(400, "incomplete body")  # nobody is left to read it
        except BodyTooLarge:
            return reject(provider, "too_large", 413, f"body larger than {MAX_BODY} bytes")
        except BadContentLength:
            return reject(provider, "bad_request", 400, "invalid Content-Length")
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return reject(provider, "not_json", 400, "body is not JSON")
        try:
            status = parse(body)
        except ProviderResponseError:
            return reject(provider, "unreadable", 400, "not a callback body")
        verdict = await inbox.record(Callback(target, status, body))
        if verdict is Verdict.MISMATCH:
            return reject(provider, "task_mismatch", 400, "callback does not match its URL")
        on_accept(provider)
        return _answer(200, "recorded")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/callbacks/{provider}/{token}", callback, methods=["POST"]),
        # apimart appends /callback to the URL it is given.
        Route("/callbacks/{provider}/{token}/callback", callback, methods=["POST"]),
    ]
    if frames is not None:
        routes.append(Route("/frames/{token}.png", frame_route(*frames), methods=["GET", "HEAD"]))
    return Starlette(routes=routes)
