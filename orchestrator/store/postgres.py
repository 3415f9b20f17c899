"""PostgreSQL backend: a pool of asyncpg connections; any number of replicas share one database.

The SQL is the same as SQLite's (``queries.py``): ``?`` placeholders become ``$1..$n`` here,
and selects that claim rows lock them (``FOR UPDATE [SKIP LOCKED]``) so that two replicas
never claim the same row. Write transactions run at READ COMMITTED. Named locks are
transaction-scoped advisory locks; replicas wake each other with ``NOTIFY reelay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]

from orchestrator.common.backoff import Outage
from orchestrator.common.database_faults import StoreClosed, store_unavailable
from orchestrator.store.rows import Row
from orchestrator.store.schema import apply_migrations

log = logging.getLogger("reelay.store")

_MIGRATION_LOCK = 0x7265656C6179  # "reelay": replicas starting together migrate one at a time
_LOCK_CLASS = 0x72656C  # the first key of reelay's two-key advisory locks
CHANNEL = "reelay"
_LISTEN_RETRY_S = 2.0

# A string literal, a quoted identifier or a comment (copied as is), or a placeholder.
_TOKEN = re.compile(r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?|--[^\n]*|/\*.*?(?:\*/|\Z)|\?", re.S)


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered ``$1..$n``, leaving quoted text alone."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _TOKEN.sub(number, sql)


class _PostgresConnection:
    lock_clause = " FOR UPDATE"
    skip_locked_clause = " FOR UPDATE SKIP LOCKED"
    like = "ILIKE"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # asyncpg's Record reads by column name and converts with dict(); it is our Row.
        return cast(list[Row], await self._conn.fetch(numbered(sql), *params))

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._conn.fetchval(numbered(sql), *params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(numbered(sql), *params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(numbered(sql), rows)

    async def lock(self, name: str) -> None:
        sql = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
        await self._conn.execute(sql, _LOCK_CLASS, name)

    async def notify(self, payload: str) -> None:
        await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)


class _QuietPoolFloor(logging.Filter):
    """asyncpg's pool logs a traceback each time it fails to reconnect its idle connections;
    while the database is away reelay's own loops already say so, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not store_unavailable(exc)


logging.getLogger("asyncpg.pool").addFilter(_QuietPoolFloor())


def _set(event: asyncio.Event, *_: object) -> None:
    event.set()


class PostgresBackend:
    shared = True

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10) -> None:
        """``dsn``: ``postgresql://user:password@host:port/database`` (asyncpg's form)."""
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            server_settings={"application_name": "reelay"},
        )

    def _opened(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreClosed("store is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresConnection]:
        async with (
            self._opened().acquire() as conn,
            conn.transaction(isolation="read_committed"),
        ):
            yield _PostgresConnection(conn)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[_PostgresConnection]:
        async with self._opened().acquire() as conn:
            yield _PostgresConnection(conn)

    async def migrate(self) -> None:
        async with self.transaction() as conn:
            # Held until commit: a replica that starts meanwhile waits, then finds nothing to do.
            await conn.fetchval("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            await apply_migrations(conn, "postgres")

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(
            exc,
            asyncpg.exceptions.DeadlockDetectedError | asyncpg.exceptions.SerializationError,
        )

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        """Listen on a connection of its own, reconnecting after a loss. A notification missed
        while reconnecting only delays work until the engine's next tick."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(on_notify))

    async def _listen(self, on_notify: Callable[[str], None]) -> None:
        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            on_notify(payload)

        outage = Outage("listening for other replicas", log, max_s=_LISTEN_RETRY_S)
        while True:
            lost = asyncio.Event()
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                conn.add_termination_listener(functools.partial(_set, lost))
                await conn.add_listener(CHANNEL, heard)
            except Exception as exc:  # refused, reset, server starting: all pass
                if conn is not None:
                    conn.terminate()
                await asyncio.sleep(outage.failed(exc, outage.failures + 1))
                continue
            outage.recovered()
            try:
                on_notify("")  # whatever was missed while not listening
                await lost.wait()
                log.warning("lost the connection that listens for other replicas; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
