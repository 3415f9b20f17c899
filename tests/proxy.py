"""A round-robin TCP load balancer on loopback: what sits in front of replicas in production.

``async with round_robin_proxy(ports) as url:`` listens on a free loopback port. Each incoming
connection goes to the next backend port in turn; a backend that refuses the connection (a dead
replica) is skipped for the next one. Bytes are piped both ways until both sides are done.

``async with faulty_proxy(port) as proxy:`` fronts one backend (a database) and lets a test
cut every connection (``drop``), refuse new ones (``refuse``) and let them through again
(``admit``): a server restart or a network outage, without touching the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from tests.loopback import free_port

HOST = "127.0.0.1"
CHUNK = 64 * 1024


class RoundRobin:
    """The listening side's state: whose turn it is, and the connections being piped."""

    def __init__(self, ports: Sequence[int]) -> None:
        if not ports:
            raise ValueError("round_robin_proxy needs at least one backend port")
        self.ports = tuple(ports)
        self.turn = 0
        self.picked: list[int] = []  # the backend port of each connection, in order
        self.closing = False
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend in turn that accepts a connection; None if none does."""
        start = self.turn
        self.turn = (self.turn + 1) % len(self.ports)
        for i in range(len(self.ports)):
            port = self.ports[(start + i) % len(self.ports)]
            try:
                backend = await asyncio.open_connection(HOST, port)
            except OSError:
                continue
            self.picked.append(port)
            return backend
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection (never raises: asyncio's server would log it)."""
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            backend = None if self.closing else await self.connect()
            if backend is None:
                return
            backend_reader, backend_writer = backend
            self._writers.add(backend_writer)
            try:
                if not self.closing:
                    await asyncio.gather(
                        _pipe(reader, backend_writer), _pipe(backend_reader, writer)
                    )
            finally:
                self._writers.discard(backend_writer)
                await _close(backend_writer)
        finally:
            self._writers.discard(writer)
            await _close(writer)
            self._handlers.discard(task)

    def drop(self) -> int:
        """Reset every connection being piped (both sides); returns how many sides were cut.
        New connections are still accepted."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        return len(writers)

    async def aclose(self) -> None:
        """Drop every connection (both sides) and wait for their handlers to finish."""
        self.closing = True
        self.drop()
        if self._handlers:
            _, stuck = await asyncio.wait(set(self._handlers), timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close ``writer``. On a reset, abort ``writer``
    so that the other direction ends too."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:
        writer.transport.abort()
        return
    with contextlib.suppress(OSError):
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def round_robin_proxy(ports: Sequence[int]) -> AsyncIterator[str]:
    """Balance connections over the loopback ``ports``; yields the proxy's base URL
    (``http://127.0.0.1:<port>``). On exit, stops listening and closes every connection."""
    async with serving_round_robin(ports) as (url, _):
        yield url


@contextlib.asynccontextmanager
async def serving_round_robin(ports: Sequence[int]) -> AsyncIterator[tuple[str, RoundRobin]]:
    """``round_robin_proxy`` that also yields its state (which backend each connection got)."""
    balancer = RoundRobin(ports)
    port = free_port()
    server = await asyncio.start_server(balancer.handle, HOST, port)
    try:
        yield f"http://{HOST}:{port}", balancer
    finally:
        server.close()
        await balancer.aclose()
        await server.wait_closed()


class FaultyProxy:
    """One backend behind a proxy whose connections a test can cut and refuse."""

    def __init__(self, backend_port: int) -> None:
        self.balancer = RoundRobin([backend_port])
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server: asyncio.Server | None = None

    @property
    def connections(self) -> int:
        """Connections piped to the backend so far."""
        return len(self.balancer.picked)

    async def admit(self) -> None:
        """Listen (again): new connections go through."""
        if self._server is None:
            self._server = await asyncio.start_server(self.balancer.handle, HOST, self.port)

    def drop(self) -> int:
        """Reset every open connection; returns how many sides were cut."""
        return self.balancer.drop()

    async def refuse(self) -> None:
        """Stop listening (a connection attempt is refused) and cut every open connection."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()
        self.drop()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.balancer.aclose()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


@contextlib.asynccontextmanager
async def faulty_proxy(backend_port: int) -> AsyncIterator[FaultyProxy]:
    """A ``FaultyProxy`` in front of ``backend_port``, admitting connections."""
    proxy = FaultyProxy(backend_port)
    await proxy.admit()
    try:
        yield proxy
    finally:
        await proxy.aclose()
