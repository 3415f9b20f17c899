"""Fetching one video link: a refusal says how long to wait, read as every other Retry-After
is; a video larger than the in-memory spool is staged whole; nothing is left on failure."""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from orchestrator.artifacts.fetch import SPOOL_BYTES, Fetched, FetchFailed, fetch
from orchestrator.common.retry_after import MAX_RETRY_AFTER_S
from orchestrator.common.transport import AiohttpTransport
from tests.loopback import serve_app

NOW = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def busy_server() -> Starlette:
    """``/busy?status=...&after=...`` answers that status with that Retry-After."""

    async def busy(request: Request) -> Response:
        after = request.query_params.get("after")
        headers = {"Retry-After": after} if after is not None else {}
        return Response(status_code=int(request.query_params["status"]), headers=headers)

    return Starlette(routes=[Route("/busy", busy)])


def staged_files(staging: Path) -> list[Path]:
    return list(staging.iterdir())


@pytest.fixture
async def busy() -> AsyncIterator[str]:
    async with serve_app(busy_server(), lifespan="off") as url:
        yield url + "/busy"


@pytest.mark.parametrize(
    ("status", "after", "expected"),
    [
        (429, "17", 17.0),
        (503, email.utils.formatdate(NOW + 45, usegmt=True), 45.0),
        (503, "999999", MAX_RETRY_AFTER_S),
        (500, "soon", None),
        (502, None, None),
    ],
)
async def test_a_refusal_carries_its_retry_after(
    busy: str, tmp_path: Path, status: int, after: str | None, expected: float | None
) -> None:
    """Seconds and HTTP-dates (by the injected clock) both count; the download may be retried
    and leaves no staged file behind."""
    params = {"status": str(status)} | ({"after": after} if after is not None else {})
    url = str(httpx.URL(busy, params=params))
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as client:
        result = await fetch(client, url, {}, tmp_path, max_bytes=1000, clock=lambda: NOW)
    assert result == FetchFailed(f"HTTP {status}", retryable=True, retry_after=expected)
    assert staged_files(tmp_path) == []


BIG = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * (3 * 4096 + 7)
"""An MP4-looking body of just over 3 MiB: written in several spools."""


def big_server() -> Starlette:
    """``/big`` with its length; ``/streamed`` in 64 KiB chunks without one."""

    async def big(request: Request) -> Response:
        return Response(BIG, media_type="video/mp4")

    async def streamed(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(BIG), 65536):
                yield BIG[start : start + 65536]

        return StreamingResponse(chunks(), media_type="video/mp4")

    return Starlette(routes=[Route("/big", big), Route("/streamed", streamed)])


async def test_a_video_larger_than_a_spool_is_staged_whole(tmp_path: Path) -> None:
    async with (
        serve_app(big_server(), lifespan="off") as url,
        httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as client,
    ):
        result = await fetch(client, url + "/big", {}, tmp_path, max_bytes=10**8)
    assert isinstance(result, Fetched)
    assert len(BIG) > 3 * SPOOL_BYTES
    assert (result.size, result.sha256) == (len(BIG), hashlib.sha256(BIG).hexdigest())
    assert result.staged.read_bytes() == BIG
    assert staged_files(tmp_path) == [result.staged]


async def test_a_video_over_the_cap_leaves_nothing_staged(tmp_path: Path) -> None:
    """Refused once more than the cap has come, after spools were written to the file."""
    async with (
        serve_app(big_server(), lifespan="off") as url,
        httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as client,
    ):
        result = await fetch(client, url + "/streamed", {}, tmp_path, max_bytes=2 * SPOOL_BYTES)
    assert isinstance(result, FetchFailed)
    assert not result.retryable
    assert staged_files(tmp_path) == []
