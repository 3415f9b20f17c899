"""A small client for the internal API, used by the CLI's client commands."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx


class ApiError(Exception):
    """The API refused a request or could not be reached; the message is one clear line."""


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
            raise ApiError(
                f"cannot reach reelay at {self._base_url} ({type(exc).__name__}); is "
                "`reelay serve` running and REELAY_API_URL right?"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(_describe(response))
        return response.json()

    @contextlib.asynccontextmanager
    async def stream(self, path: str, headers: dict[str, str]) -> AsyncIterator[httpx.Response]:
        """A streaming GET (server-sent events): no read timeout."""
        try:
            async with self._http.stream(
                "GET", path, headers=headers, timeout=httpx.Timeout(30.0, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ApiError(_describe(response))
                yield response
        except httpx.ConnectError as exc:
            raise ApiError(
                f"cannot reach reelay at {self._base_url} ({type(exc).__name__}); is "
                "`reelay serve` running and REELAY_API_URL right?"
            ) from exc

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

    async def create(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self.request("POST", "/v1/pipelines", json=body, headers=headers)

    async def get(self, pipeline_id: str) -> Any:
        return await self.request("GET", f"/v1/pipelines/{pipeline_id}")

    async def list(self, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return await self.request("GET", "/v1/pipelines", params=query)

    async def cancel(self, pipeline_id: str) -> Any:
        return await self.request("POST", f"/v1/pipelines/{pipeline_id}/cancel")


def _describe(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
    fields = error.get("fields") or []
    if fields:
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return f"HTTP {response.status_code}: {detail}"
    return f"HTTP {response.status_code}: {error.get('message', '')}"
