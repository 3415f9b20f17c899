"""First-frame images, fetched over HTTP at submit time as the real providers fetch them.

A generation naming a first-frame image makes the sandbox GET it (redirects followed, no proxy,
5 s and 10 MB at most) and decode it with PyAV into a 160x90 picture, the video's frame 0. An
image that cannot be fetched or decoded does not refuse the submit: the task is accepted and
fails when it ends (``Outcome.IMAGE_FAILED``), its status saying "image download failed" and
why. Like its callbacks, the sandbox fetches from loopback and private addresses too; a host
under a name reserved for examples and tests (``.test``, ``.example``, ``.invalid``,
``.localhost`` but ``localhost`` itself) fails without a DNS lookup.

The app's lifespan owns the client (``running``); without one, as under httpx's
ASGITransport, each fetch opens its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from orchestrator.sandbox.video import BadPicture, Picture, picture_png

_RESERVED = (".test", ".example", ".invalid", ".localhost")
TIMEOUT_S = 5.0
MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageFailed:
    reason: str

    @property
    def message(self) -> str:
        return f"image download failed: {self.reason}"


FirstFrame = Picture | ImageFailed
"""What a submit's first-frame image became."""


class ImageFetcher:
    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Fetch through one client until exit."""
        async with _client() as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def first_frame(self, url: str) -> FirstFrame:
        if not url.startswith(("http://", "https://")):
            return ImageFailed("the image is not an http or https URL")
        host = (httpx.URL(url).host or "").rstrip(".").lower()
        if host.endswith(_RESERVED):
            return ImageFailed(f"{host} is a name reserved for examples; nothing answers there")
        if self._client is not None:
            data = await _download(self._client, url)
        else:
            async with _client() as client:
                data = await _download(client, url)
        if isinstance(data, ImageFailed):
            return data
        try:
            return Picture(await asyncio.to_thread(picture_png, data))
        except BadPicture as exc:
            return ImageFailed(f"the image does not decode: {exc}")


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, follow_redirects=True, timeout=TIMEOUT_S)


async def _download(client: httpx.AsyncClient, url: str) -> bytes | ImageFailed:
    try:
        # asyncio.timeout bounds the whole download; httpx's bounds each read.
        async with asyncio.timeout(TIMEOUT_S), client.stream("GET", url) as response:
            if response.status_code != 200:
                return ImageFailed(f"GET {url} answered HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_BYTES:
                    return ImageFailed(f"the image is larger than {MAX_BYTES // 2**20} MB")
            return bytes(data)
    except TimeoutError:
        return ImageFailed(f"GET {url} took longer than {TIMEOUT_S:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return ImageFailed(f"GET {url} failed ({type(exc).__name__}: {exc})")
