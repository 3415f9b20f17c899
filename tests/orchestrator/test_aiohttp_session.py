"""The one aiohttp session builder, over real HTTP on loopback: what every session does, and
the options the webhook sender and the provider transport set differently."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator.common.transport import aiohttp_session
from tests.loopback import free_port, serve_app

NAME = "reelay.test"
PACKED = gzip.compress(b"hello " * 100)


class Loopback(AbstractResolver):
    """Every name is 127.0.0.1; the names asked about are kept."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


def echo_app() -> Starlette:
    async def echo(request: Request) -> Response:
        """The request's cookie and Accept-Encoding; ``?set=1`` also sets a cookie."""
        said = {k: request.headers.get(k) for k in ("cookie", "accept-encoding")}
        response = JSONResponse(said)
        if request.query_params.get("set"):
            response.set_cookie("session", "s1")
        return response

    async def packed(request: Request) -> Response:
        return Response(PACKED, headers={"content-encoding": "gzip"}, media_type="text/plain")

    return Starlette(routes=[Route("/echo", echo), Route("/packed", packed)])


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serve_app(echo_app(), lifespan="off") as url:
        yield int(url.rsplit(":", 1)[1])


async def test_proxies_from_the_environment_are_ignored(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy named in the environment (here a closed port) is not used."""
    dead = f"http://127.0.0.1:{free_port()}"
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with (
        aiohttp_session(max_connections=2) as session,
        session.get(f"http://127.0.0.1:{port}/echo") as response,
    ):
        assert response.status == 200


async def test_bodies_arrive_as_sent(port: int) -> None:
    """A gzip body is handed over compressed: whoever reads it decides about inflating."""
    async with (
        aiohttp_session(max_connections=2) as session,
        session.get(f"http://127.0.0.1:{port}/packed") as response,
    ):
        assert await response.read() == PACKED


async def test_the_resolver_decides_where_names_go(port: int) -> None:
    """A name the resolver maps to loopback is reached through it."""
    resolver = Loopback()
    async with (
        aiohttp_session(max_connections=2, resolver=resolver) as session,
        session.get(f"http://{NAME}:{port}/echo") as response,
    ):
        assert response.status == 200
    assert resolver.asked == [NAME]


@pytest.mark.parametrize(("cookies", "sent_back"), [(True, "session=s1"), (False, None)])
async def test_cookies_are_kept_only_when_asked(
    port: int, cookies: bool, sent_back: str | None
) -> None:
    """A cookie set by one answer goes back with the next request only with ``cookies``
    (the webhook sender turns them off: one session serves every user's endpoint)."""
    url = f"http://{NAME}:{port}/echo"
    async with aiohttp_session(max_connections=2, resolver=Loopback(), cookies=cookies) as s:
        async with s.get(url, params={"set": "1"}) as first:
            assert first.status == 200
        async with s.get(url) as second:
            said = await second.json()
    assert said["cookie"] == sent_back


@pytest.mark.parametrize(("skip", "offered"), [((), True), (("Accept-Encoding",), False)])
async def test_automatic_headers_can_be_left_out(
    port: int, skip: tuple[str, ...], offered: bool
) -> None:
    """Without ``skip_auto_headers`` aiohttp offers compression; the webhook sender asks for
    plain bodies so that its excerpt is text."""
    async with (
        aiohttp_session(max_connections=2, skip_auto_headers=skip) as session,
        session.get(f"http://127.0.0.1:{port}/echo") as response,
    ):
        said = await response.json()
    assert ("gzip" in (said["accept-encoding"] or "")) is offered
