"""Reading a request body with a hard cap and a deadline, decided before the whole body is read."""

from __future__ import annotations

import asyncio

from starlette.requests import Request


class BodyTooLarge(Exception):
    pass


class BadContentLength(Exception):
    pass


class BodyTimeout(Exception):
    """The whole body did not arrive within the deadline."""


async def read_capped(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused without reading anything; a body sent
    without one (chunked) is refused at the first chunk that crosses the limit. The deadline
    covers the whole body, so a client trickling a byte now and then does not extend it.
    A client that hangs up mid-body raises starlette's ``ClientDisconnect``.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(request, limit)
    except TimeoutError:
        raise BodyTimeout from None


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadContentLength
        if int(declared) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
