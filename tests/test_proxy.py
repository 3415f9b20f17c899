"""The round-robin TCP proxy the replica tests put in front of several reelay processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.loopback import free_port, serve_app
from tests.proxy import faulty_proxy, round_robin_proxy, serving_round_robin


@contextlib.asynccontextmanager
async def backend(name: str) -> AsyncIterator[int]:
    """A tiny TCP server: says its name, then echoes everything until the client half-closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{name}\n".encode())
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return await asyncio.open_connection(parts.hostname, parts.port)


async def exchange(url: str, payload: bytes = b"") -> tuple[str, bytes]:
    """Connect through the proxy; the backend's name and the echo of ``payload``."""
    reader, writer = await connect(url)
    try:
        name = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        writer.write(payload)
        writer.write_eof()
        echo = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return name, echo


async def test_connections_alternate_between_backends() -> None:
    """Each new connection goes to the next backend in turn, bytes pass both ways intact."""
    async with backend("a") as a, backend("b") as b, round_robin_proxy([a, b]) as url:
        assert url.startswith("http://127.0.0.1:")
        payload = bytes(range(256)) * 4096  # 1 MiB: more than one read and one socket buffer
        results = [await exchange(url, payload) for _ in range(4)]
    assert [name for name, _ in results] == ["a", "b", "a", "b"]
    assert all(echo == payload for _, echo in results)


async def test_a_dead_backend_is_skipped() -> None:
    """A backend that refuses connections (a killed replica) gets none; the turn moves on."""
    dead = free_port()  # nothing listens there
    async with (
        backend("a") as a,
        backend("b") as b,
        serving_round_robin([a, dead, b]) as (url, balancer),
    ):
        names = [(await exchange(url))[0] for _ in range(6)]
    assert names == ["a", "b", "b", "a", "b", "b"]
    assert dead not in balancer.picked


async def test_no_live_backend_closes_the_connection() -> None:
    """With every backend down the client's connection is closed, not left hanging."""
    async with round_robin_proxy([free_port(), free_port()]) as url:
        reader, writer = await connect(url)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()


async def test_a_backend_that_dies_ends_its_connections() -> None:
    """A backend dying mid-connection closes the client's side; new connections go to the
    live one."""
    accepted: list[asyncio.StreamWriter] = []
    connected = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        connected.set()

    dying = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = dying.sockets[0].getsockname()[1]
    async with backend("b") as b, round_robin_proxy([port, b]) as url:
        reader, writer = await connect(url)
        await asyncio.wait_for(connected.wait(), 5)
        dying.close()
        for held in accepted:
            held.transport.abort()
        await dying.wait_closed()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
        assert [(await exchange(url))[0] for _ in range(2)] == ["b", "b"]


async def test_http_clients_through_the_proxy() -> None:
    """HTTP passes through unchanged; a keep-alive client stays on its backend, new clients
    take turns."""

    def named(name: str) -> Starlette:
        async def hello(request: Request) -> Response:
            return PlainTextResponse(name + ":" + (await request.body()).decode())

        return Starlette(routes=[Route("/", hello, methods=["POST"])])

    async with serve_app(named("a")) as a, serve_app(named("b")) as b:
        ports = [int(u.rsplit(":", 1)[1]) for u in (a, b)]
        async with round_robin_proxy(ports) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                kept = [(await client.post("/", content=f"{i}")).text for i in range(3)]
            fresh = []
            for i in range(4):
                async with httpx.AsyncClient(base_url=url) as client:
                    fresh.append((await client.post("/", content=f"{i}")).text)
    assert kept == ["a:0", "a:1", "a:2"]
    assert fresh == ["b:0", "a:1", "b:2", "a:3"]


async def test_closing_drops_open_connections_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """Leaving the context ends connections still open (the client reads end of stream) and
    nothing is logged as an error."""
    async with backend("a") as a:
        async with round_robin_proxy([a]) as url:
            reader, writer = await connect(url)
            assert await asyncio.wait_for(reader.readline(), 5) == b"a\n"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_faulty_proxy_drops_refuses_and_admits_again() -> None:
    """``drop`` resets open connections, ``refuse`` makes new ones fail to connect, ``admit``
    lets them through again on the same port."""
    async with backend("a") as a, faulty_proxy(a) as proxy:
        reader, writer = await connect(proxy.url)
        assert await asyncio.wait_for(reader.readline(), 5) == b"a\n"
        assert proxy.drop() == 2  # the client's side and the backend's side
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        await proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            await connect(proxy.url)
        await proxy.admit()
        assert await exchange(proxy.url, b"again") == ("a", b"again")
        assert proxy.connections == 2
