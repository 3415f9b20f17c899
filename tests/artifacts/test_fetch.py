"""A refused video link says how long to wait, read as every other Retry-After is."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.artifacts.fetch import FetchFailed, fetch
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
