"""A small client for the internal API, used by the CLI's client commands."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from orchestrator.common import backoff
from orchestrator.errors import ReelayError, Unavailable

# The server is restarting, or a proxy in front of it cannot reach it, or its store is down.
_UNAVAILABLE = frozenset({502, 503, 504})


class ApiError(ReelayError):
    """The API refused a request or could not be reached; the message is one clear line."""


class Unreachable(ApiError, Unavailable):
    """No answer from reelay, or one saying it is unavailable for now: worth trying again."""


class Patience:
    """How a following command (``watch``, ``submit --wait``) waits for reelay to come back.

    ``wait`` is called after each failed attempt: the first prints one line that it is
    reconnecting, each sleeps a growing delay (``backoff.delay``: doubling from
    ``first_delay_s`` up to ``max_delay_s``, jittered so that many followers of one restarted
    reelay do not reconnect together), and once reelay has been unreachable for ``give_up_s``
    it raises ApiError. ``ok`` is called after each success.
    """

    def __init__(
        self,
        err: TextIO | None = None,
        *,
        give_up_s: float = 60.0,
        first_delay_s: float = 0.25,
        max_delay_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._err = err or sys.stderr
        self._give_up_s = give_up_s
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._down_since: float | None = None
        self._failures = 0

    def ok(self) -> None:
        self._down_since = None
        self._failures = 0

    async def wait(self, exc: Exception) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
            self._err.write(f"reelay: {exc}; reconnecting (for up to {self._give_up_s:g} s)\n")
            self._err.flush()
        elif now - self._down_since >= self._give_up_s:
            raise ApiError(f"gave up after {self._give_up_s:g} s without reelay: {exc}") from exc
        self._failures += 1
        await self._sleep(
            backoff.delay(
                self._failures, self._rng, base_s=self._first_delay_s, max_s=self._max_delay_s
            )
        )


class ApiClient:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self._base_url, headers=headers, timeout=timeout)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in _UNAVAILABLE:
            raise Unreachable(_describe(response))
        if response.status_code >= 400:
            raise ApiError(_describe(response))
        return response.json()

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(
            f"cannot reach reelay at {self._base_url} ({type(exc).__name__}); is "
            "`reelay serve` running and REELAY_API_URL right?"
        )

    @contextlib.asynccontextmanager
    async def stream(self, path: str, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """A streaming GET (server-sent events): no read timeout."""
        try:
            async with self._http.stream(
                "GET", path, headers=headers, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    error = Unreachable if response.status_code in _UNAVAILABLE else ApiError
                    raise error(_describe(response))
                yield response
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from exc

    async def download(self, path: str, target: Path) -> int:
        """Stream a binary resource to ``target`` (written atomically); returns its size."""
        partial = target.with_name(target.name + ".partial")
        size = 0
        try:
            async with self.stream(path, {}) as response:
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        size += len(chunk)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return size

    async def whole_video(self, pipeline_id: str, leaf: int, target: Path) -> WholeVideo:
        """Download a branch's whole video to ``target`` (written atomically); while it is
        being made, write nothing and say how long to wait."""
        partial = target.with_name(target.name + ".partial")
        path = f"/v1/pipelines/{pipeline_id}/video"
        try:
            async with self._http.stream(
                "GET", path, params={"leaf": leaf}, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code == 202:
                    await response.aread()
                    return WholeVideo(retry_after=float(response.headers.get("retry-after", 2)))
                if response.status_code >= 400:
                    await response.aread()
                    error = Unreachable if response.status_code in _UNAVAILABLE else ApiError
                    raise error(_describe(response))
                size = 0
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        size += len(chunk)
                partial.replace(target)
                return WholeVideo(size=size, headers=dict(response.headers))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        finally:
            partial.unlink(missing_ok=True)

    async def create(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self.request("POST", "/v1/pipelines", json=body, headers=headers)

    async def create_batch(self, items: list[dict[str, Any]]) -> Any:
        """``POST /v1/pipelines/batch``: one result per item (``idempotency_key``, ``pipeline``)."""
        return await self.request("POST", "/v1/pipelines/batch", json={"items": items})

    async def get(self, pipeline_id: str) -> Any:
        return await self.request("GET", f"/v1/pipelines/{pipeline_id}")

    async def list(self, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return await self.request("GET", "/v1/pipelines", params=query)

    async def cancel(self, pipeline_id: str, reason: str | None = None) -> Any:
        return await self._act(pipeline_id, "cancel", reason)

    async def retry(self, pipeline_id: str, reason: str | None = None) -> Any:
        return await self._act(pipeline_id, "retry", reason)

    async def _act(self, pipeline_id: str, action: str, reason: str | None) -> Any:
        """An action on a pipeline, with the reason the API keeps in its audit event."""
        body = {"reason": reason} if reason is not None else None
        return await self.request("POST", f"/v1/pipelines/{pipeline_id}/{action}", json=body)


@dataclass(frozen=True, slots=True)
class WholeVideo:
    """A branch's whole video, downloaded (``size`` and the answer's headers), or being
    made (``retry_after`` seconds)."""

    size: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None


def _describe(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
    return f"HTTP {response.status_code}: {problem_line(error)}"


def problem_line(error: dict[str, Any]) -> str:
    """An API error (``{"code", "message", "fields"}``) as one line: each field named, else
    the message."""
    fields = error.get("fields") or []
    if fields:
        return "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return str(error.get("message", ""))
