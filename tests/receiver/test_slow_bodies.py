"""Slow and abandoned callback bodies on a valid URL, over real loopback HTTP.

A client holding a valid callback URL can still send its body slowly or not at all; the
receiver answers 408 once its body deadline passes (a tiny one here) instead of holding the
request forever, and a client that hangs up mid-body is a DEBUG line, not an ERROR traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest
import uvicorn

from orchestrator.domain.callbacks import CallbackTarget
from orchestrator.intake import CallbackInbox
from orchestrator.store import Store
from receiver.app import create_receiver_app
from receiver.tokens import CallbackTokens
from tests.fakes import FakeProvider
from tests.loopback import free_port

DEADLINE_S = 0.2
GUARD_S = 20.0  # only so that a receiver that never answers fails the test instead of hanging


@contextlib.asynccontextmanager
async def receiver(store: Store, tokens: CallbackTokens) -> AsyncIterator[int]:
    """The receiver under uvicorn on a free loopback port, logging through the root logger."""
    inbox = CallbackInbox(store)
    app = create_receiver_app(
        inbox, tokens, {"fake": FakeProvider().parse_callback}, body_timeout_s=DEADLINE_S
    )
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,  # a request still stuck in its body is cut at the end
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield port
    finally:
        server.should_exit = True
        await task
        await inbox.close()


@pytest.fixture
def tokens() -> CallbackTokens:
    return CallbackTokens(["secret"], max_age_s=3600)


def head(tokens: CallbackTokens, extra: str) -> bytes:
    token = tokens.mint(CallbackTarget("p1", 0, "fake"))
    return (
        f"POST /callbacks/fake/{token} HTTP/1.1\r\nHost: receiver\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, object]]:
    """Status and JSON body of one HTTP/1.1 response (Content-Length framed)."""
    status_line = await asyncio.wait_for(reader.readline(), GUARD_S)
    assert status_line, "the receiver closed the connection without answering"
    headers: dict[str, str] = {}
    while (line := await asyncio.wait_for(reader.readline(), GUARD_S)) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), GUARD_S)
    return int(status_line.split()[1]), json.loads(body)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_stalled_body_is_answered_408(
    store: Store, tokens: CallbackTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """Headers and part of a declared body, then silence: 408 with the terse error body."""
    async with receiver(store, tokens) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(tokens, "Content-Length: 100\r\n") + b'{"task_id": ')
        await writer.drain()
        status, body = await read_response(reader)
        writer.close()
    assert status == 408
    assert body == {"ok": False, "message": "callback body not received in time"}
    assert errors(caplog) == []


async def test_a_trickled_chunked_body_is_answered_408(
    store: Store, tokens: CallbackTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """The deadline is for the whole body: a chunk now and then does not extend it.

    Chunks still in flight when the receiver answers and closes are unread there, so its
    kernel resets the connection; asyncio's StreamReader then raises the reset before the
    408's bytes it already holds. The receiver's own refusal line is the proof then, and the
    408 is checked whenever it is read."""
    caplog.set_level(logging.INFO, logger="reelay.receiver")
    async with receiver(store, tokens) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(tokens, "Transfer-Encoding: chunked\r\n"))
        answer = asyncio.create_task(read_response(reader))
        with contextlib.suppress(ConnectionError):
            for _ in range(int(GUARD_S / 0.05)):
                if answer.done():
                    break
                writer.write(b"1\r\n \r\n")
                await writer.drain()
                await asyncio.sleep(0.05)
        try:
            status, body = await answer
        except ConnectionResetError:
            status, body = 408, {"ok": False}  # answered, then reset: see the refusal below
        writer.close()
    assert status == 408
    assert body["ok"] is False
    refusals = [r.getMessage() for r in caplog.records if r.name == "reelay.receiver"]
    assert "callback refused: provider=fake reason=body_timeout" in refusals
    assert errors(caplog) == []


async def test_a_client_hanging_up_mid_body_is_a_debug_line(
    store: Store, tokens: CallbackTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """A disconnect before the body is complete logs at DEBUG, never an ERROR traceback."""
    caplog.set_level(logging.DEBUG, logger="reelay.receiver")
    async with receiver(store, tokens) as port:
        for _ in range(3):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head(tokens, "Content-Length: 100\r\n") + b'{"task_id": ')
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        def hang_ups() -> int:
            return sum("disconnected" in r.getMessage() for r in caplog.records)

        for _ in range(int(GUARD_S / 0.01)):
            if hang_ups() == 3 or errors(caplog):
                break
            await asyncio.sleep(0.01)
    assert errors(caplog) == []
    assert hang_ups() == 3
    assert all(
        r.levelno == logging.DEBUG and r.name == "reelay.receiver"
        for r in caplog.records
        if "disconnected" in r.getMessage()
    )
