"""Fetching one result video: streamed to a staging file, hashed on the way, checked at the end.

Nothing is held in memory beyond one chunk. The outcome says whether trying again could help:
a dead link, a page that is not a video or a file over the cap never will; a dropped
connection, a timeout or a 5xx may.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from orchestrator.common.retry_after import parse_retry_after

VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
"""Content types a video may be served with; the bytes are checked either way."""


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
        async with await anyio.open_file(staged, "wb") as out:
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > max_bytes:
                    return FetchFailed(f"over the {max_bytes}-byte cap", retryable=False)
                if len(head) < 12:
                    head += chunk[: 12 - len(head)]
                digest.update(chunk)
                await out.write(chunk)
            await out.flush()
            await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
        if declared and declared.isdecimal() and size != int(declared):
            return FetchFailed(f"connection closed after {size} of {declared} bytes", True)
        if not is_mp4(head):
            return FetchFailed("not a video: the bytes are not an MP4 (no ftyp box)", False)
        return Fetched(staged, digest.hexdigest(), size, content_type or "video/mp4")
