"""Fetching one result video: streamed to a staging file, hashed on the way, checked at the end.

At most ``SPOOL_BYTES`` are held in memory: the bytes are written a spool at a time, each write
one call in a worker thread, and a small video is written, fsynced and closed in one (a thread
hop per chunk cost more CPU than the whole download). The outcome says whether trying again
could help:
a dead link, a page that is not a video or a file over the cap never will; a dropped
connection, a timeout or a 5xx may.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from orchestrator.common.retry_after import parse_retry_after

VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
"""Content types a video may be served with; the bytes are checked either way."""


SPOOL_BYTES = 1024 * 1024


class _Spool:
    """Chunks gathered in memory and written to ``path`` ``SPOOL_BYTES`` at a time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pending: list[bytes] = []
        self._size = 0
        self._file: BinaryIO | None = None

    async def add(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size >= SPOOL_BYTES:
            await asyncio.to_thread(self._spill)

    async def finish(self) -> None:
        """Write what is left, fsync and close: the file is whole on disk."""
        await asyncio.to_thread(self._finish)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _spill(self) -> None:
        if self._file is None:
            self._file = self._path.open("wb")
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._size = 0

    def _finish(self) -> None:
        self._spill()
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


@dataclass(frozen=True, slots=True)
class Fetched:
    staged: Path
    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class FetchFailed:
    reason: str
    retryable: bool
    retry_after: float | None = None


def is_mp4(head: bytes) -> bool:
    """An ISO base media file starts with a box whose type, at bytes 4..8, is ``ftyp``."""
    return len(head) >= 12 and head[4:8] == b"ftyp"


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    staging: Path,
    *,
    max_bytes: int,
    clock: Callable[[], float] = time.time,
) -> Fetched | FetchFailed:
    """Download ``url`` into a new file under ``staging``; the file is kept only on success.
    ``clock`` dates a Retry-After given as an HTTP-date."""
    staged = staging / f"{secrets.token_hex(8)}.partial"
    result: Fetched | FetchFailed = FetchFailed("interrupted", retryable=True)
    try:
        result = await _fetch(client, url, headers, staged, max_bytes, clock=clock)
    except httpx.TransportError as exc:
        result = FetchFailed(f"{type(exc).__name__}: {exc}", retryable=True)
    finally:
        if not isinstance(result, Fetched):
            staged.unlink(missing_ok=True)
    return result


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    staged: Path,
    max_bytes: int,
    *,
    clock: Callable[[], float],
) -> Fetched | FetchFailed:
    async with client.stream("GET", url, headers=dict(headers)) as response:
        status = response.status_code
        if status in (404, 410, 401, 403):
            return FetchFailed(f"the link answered HTTP {status}", retryable=False)
        if status == 429 or status >= 500:
            delay = parse_retry_after(response.headers.get("retry-after"), now=clock())
            return FetchFailed(f"HTTP {status}", retryable=True, retry_after=delay)
        if status != 200:
            return FetchFailed(f"unexpected HTTP {status}", retryable=False)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith(VIDEO_TYPES):
            return FetchFailed(f"not a video: content type {content_type!r}", retryable=False)
        declared = response.headers.get("content-length")
        if declared and declared.isdecimal() and int(declared) > max_bytes:
            return FetchFailed(f"{declared} bytes is over the {max_bytes}-byte cap", False)
        digest = hashlib.sha256()
        size = 0
        head = b""
        spool = _Spool(staged)
        try:
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > max_bytes:
                    return FetchFailed(f"over the {max_bytes}-byte cap", retryable=False)
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                digest.update(chunk)
                await spool.add(chunk)
            await spool.finish()
        finally:
            spool.close()
        if declared and declared.isdecimal() and size != int(declared):
            return FetchFailed(f"connection closed after {size} of {declared} bytes", True)
        if not is_mp4(head):
            return FetchFailed("not a video: the bytes are not an MP4 (no ftyp box)", False)
        return Fetched(staged, digest.hexdigest(), size, content_type or "video/mp4")
