"""Frame URLs: where a provider fetches the picture a continuation starts from.

A continuation is an image-to-video generation whose first frame is the previous clip's last
frame; providers take that picture as a URL and fetch it themselves, so reelay publishes it
on the public listener at ``/frames/<token>.png``. The token is the credential, as for
callbacks: signed (HMAC-SHA256, a salt of its own), expiring, naming one stored frame. Nothing
is listable, and a bad or expired token gets 401 and says nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from receiver.tokens import InvalidToken, SignedTokens

_FRAME_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}\.png")

FrameSource = Callable[[str], Awaitable[bytes | None]]
"""The PNG stored at a key, or None when there is none."""


class FrameTokens(SignedTokens):
    SALT = "reelay.frame.v1"

    def mint(self, key: str) -> str:
        if not _FRAME_KEY.fullmatch(key):
            raise ValueError(f"not a stored frame's key: {key!r}")
        return self._dumps(key)

    def verify(self, token: str) -> str | None:
        """The frame's storage key, or None unless the token is ours and fresh."""
        try:
            key = self._loads(token)
        except InvalidToken:
            return None
        return key if isinstance(key, str) and _FRAME_KEY.fullmatch(key) else None


def frame_url(public_url: str, key: str, tokens: FrameTokens) -> str:
    return f"{public_url.rstrip('/')}/frames/{tokens.mint(key)}.png"


def frame_route(tokens: FrameTokens, read: FrameSource) -> Callable[[Request], Awaitable[Response]]:
    async def frame(request: Request) -> Response:
        key = tokens.verify(request.path_params["token"])
        body = None if key is None else await read(key)
        if body is None:
            # An unknown key behind a valid token (a pruned frame) answers like a bad token.
            return JSONResponse({"ok": False, "message": "unauthorized"}, status_code=401)
        headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type="image/png")
        return Response(body, headers=headers, media_type="image/png")

    return frame
