"""PostgreSQL backend: a pool of asyncpg connections; any number of replicas share one database.

The SQL is the same as SQLite's (``queries.py``): ``?`` placeholders become ``$1..$n`` here,
and selects that claim rows lock them (``FOR UPDATE [SKIP LOCKED]``) so that two replicas
never claim the same row. Write transactions run at READ COMMITTED.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg  # type: ignore[import-untyped]

from orchestrator.store.rows import Row
from orchestrator.store.schema import apply_migrations

_MIGRATION_LOCK = 0x7265656C6179  # "reelay": replicas starting together migrate one at a time

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


class PostgresBackend:
    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10) -> None:
        """``dsn``: ``postgresql://user:password@host:port/database`` (asyncpg's form)."""
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            server_settings={"application_name": "reelay"},
        )

    def _opened(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
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

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
