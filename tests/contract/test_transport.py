"""The production transport against a raw loopback server that misbehaves after the request.

Once a submit has been written, any failure must surface as ``OutcomeUnknown``: the provider
may have created (and billed) the task, so the submit must never look safe to resend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from orchestrator.providers.errors import OutcomeUnknown, RequestNotSent
from tests.contract.conftest import PROVIDERS, AdapterFactory, submit_base
from tests.eventually import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

TIMEOUT_S = 1.0
"""The adapters' timeouts here. The server answers in this event loop, so a timeout that
must fire fires whatever the load; one that must not (connecting, the next trickled byte)
has this much room for a machine busy elsewhere."""


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One whole HTTP/1.1 request with a Content-Length body (what aiohttp sends for JSON)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def raw_server(behaviour: Behaviour) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback TCP server that reads each request, then acts out ``behaviour``.

    Yields its root URL and the requests it received in full.
    """
    received: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[object]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if (current := asyncio.current_task()) is not None:
            handlers.add(current)
        try:
            received.append(await read_request(reader))
            await behaviour(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.close()
        for writer in writers:
            writer.close()
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)
        await server.wait_closed()


async def close_silently(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Hang up without a single byte of answer."""


async def close_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send the status line, headers and part of the promised body, then hang up."""
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"
    )
    await writer.drain()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep the connection open, silent, until the client gives up and closes it."""
    await asyncio.wait_for(reader.read(), timeout=10 * TIMEOUT_S)


@pytest.mark.parametrize("behaviour", [close_silently, close_mid_body, never_answer])
@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_submit_lost_after_sending_is_outcome_unknown(
    adapter: AdapterFactory, name: str, behaviour: Behaviour
) -> None:
    """A submit the server received but never fully answered raises OutcomeUnknown."""
    async with raw_server(behaviour) as (root, received):
        provider = adapter(name, base_url=root + "/api", timeout_s=TIMEOUT_S)
        with pytest.raises(OutcomeUnknown) as caught:
            await submit_base(provider, prompt="a fox in the snow")
        assert not isinstance(caught.value, RequestNotSent)
        assert caught.value.provider == name

    [request] = received
    assert request.startswith(b"POST /api/")
    assert b"a fox in the snow" in request


def trickling(stop: asyncio.Event) -> Behaviour:
    """Answer a byte at a time, each well within the read timeout, until ``stop``; then hang
    up mid-body."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        writer.write(b"content-length: 99\r\n\r\n")
        while not stop.is_set():
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    return trickle


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_submit_that_never_got_a_connection_is_request_not_sent(
    adapter: AdapterFactory, name: str
) -> None:
    """A submit that timed out waiting for the only pooled connection raises RequestNotSent."""
    stop = asyncio.Event()
    async with raw_server(trickling(stop)) as (root, received):
        provider = adapter(name, base_url=root, timeout_s=TIMEOUT_S, max_concurrent_requests=1)
        holder = asyncio.create_task(submit_base(provider, prompt="holds the connection"))
        await eventually(lambda: bool(received), what="the first submit to arrive")

        with pytest.raises(RequestNotSent):
            await submit_base(provider, prompt="never sent")
        stop.set()
        with pytest.raises(OutcomeUnknown):
            await holder

    assert len(received) == 1
    assert b"holds the connection" in received[0]
