"""Reading a request body with a hard cap, decided before the whole body is read."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    pass


class BadContentLength(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused without reading anything; a body sent
    without one (chunked) is refused at the first chunk that crosses the limit.
    """
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
