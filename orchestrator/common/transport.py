"""The client reelay calls providers with, an httpx transport on aiohttp's connection pool,
and the one way reelay builds an aiohttp session (provider calls, downloads and webhook
deliveries all use it).

httpx's own pool slows down sharply with many requests in flight (measured: ~180 req/s at
64 in flight), so traffic goes through aiohttp; downloads keep httpx's interface over it.

We don't use the ``httpx-aiohttp`` package: its exception map turns aiohttp's read timeouts and
server disconnects into ``httpx.ConnectTimeout``. For reelay the difference is money: a request
that never left may be resubmitted, one that left and lost its answer must not be. The map here
keeps that line: only failures before the request was written become connect errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from json import dumps
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver

_CHUNK = 64 * 1024
KEEPALIVE_S = 4.0
"""Idle connections are dropped before common servers' keep-alive timeouts (uvicorn: 5 s), so
that a POST rarely meets a connection the server already closed: that failure is
indistinguishable from a lost answer and would make a submit ambiguous."""


def aiohttp_session(
    *,
    max_connections: int,
    dns_cache_s: int = 10,
    resolver: AbstractResolver | None = None,
    timeout: aiohttp.ClientTimeout = aiohttp.client.DEFAULT_TIMEOUT,
    cookies: bool = True,
    skip_auto_headers: tuple[str, ...] = (),
) -> aiohttp.ClientSession:
    """A session that never reads proxies from the environment and hands bodies over as sent
    (compressed ones stay compressed). Call it inside the running loop.

    ``resolver`` replaces DNS (the webhook sender's guard); without ``cookies`` none are kept
    from one request to the next.
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        ttl_dns_cache=dns_cache_s,
        resolver=resolver,
        keepalive_timeout=KEEPALIVE_S,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        trust_env=False,
        cookie_jar=None if cookies else aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=skip_auto_headers or None,
    )


def _mapped(exc: BaseException, request: httpx.Request | None) -> Exception:
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.InvalidURL):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(message, request=request)
    # Disconnects and socket errors once connected: the request may have been received.
    return httpx.RemoteProtocolError(message, request=request)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Requests through one aiohttp session (created lazily inside the running loop)."""

    def __init__(self, *, max_connections: int = 100) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp_session(max_connections=self._max_connections, dns_cache_s=60)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers=[(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"],
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer read whole: what the provider adapters read of one."""

    status_code: int
    headers: Mapping[str, str]
    """Case-blind, as HTTP headers are."""
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def reason_phrase(self) -> str:
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""


class ProviderClient:
    """The client reelay calls providers with: one aiohttp session, a request straight to it.

    The adapters need one request and its whole answer; httpx's client layer around a
    transport (building and merging requests, cookies, auth and redirect handling) cost more
    CPU than the exchange itself (about a tenth of a chain step's). Failures are raised as
    httpx's exception classes, which the adapters' error mapping reads; tests give the
    adapters an ``httpx.AsyncClient`` over a mock transport instead, which answers the same.
    """

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        self._max_connections = max_connections
        self._timeout = _limits(timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.is_closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp_session(max_connections=self._max_connections, dns_cache_s=60)
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpx.AsyncClient.request's name
    ) -> Answer:
        sent = dict(headers or {})
        data = None
        if json is not None:
            data = dumps(json, separators=(",", ":")).encode()
            sent["Content-Type"] = "application/json"
        limit = self._timeout if timeout is None else _limits(timeout)
        try:
            async with self._get_session().request(
                method,
                url,
                params=params,
                data=data,
                headers=sent,
                allow_redirects=False,
                timeout=limit,
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, None) from exc

    async def aclose(self) -> None:
        self.is_closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _limits(timeout_s: float) -> aiohttp.ClientTimeout:
    """As httpx's ``Timeout(timeout_s, connect=min(timeout_s, 10))``: waiting for a pooled
    connection (``connect``: the request never left) and each read take ``timeout_s``."""
    return aiohttp.ClientTimeout(
        total=None, connect=timeout_s, sock_connect=min(timeout_s, 10.0), sock_read=timeout_s
    )


def provider_client(*, max_connections: int, timeout_s: float) -> ProviderClient:
    """The HTTP client reelay uses to call a provider."""
    return ProviderClient(max_connections=max_connections, timeout_s=timeout_s)
