"""SQLite backend: one writer connection (WAL, serialized by a lock) and one reader.

aiosqlite runs each connection on its own thread, so every call is a thread hop; the store
batches its writes (``executemany``) to keep hops per transaction constant.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite

from orchestrator.common.database_faults import StoreClosed
from orchestrator.store.rows import Row
from orchestrator.store.schema import apply_migrations

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
)


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"not a SQLite URL (expected sqlite:///path/to/file.db): {url!r}")
    return Path(url[len(prefix) :])


class _SqliteConnection:
    lock_clause = ""
    skip_locked_clause = ""
    like = "LIKE"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows = await self._conn.execute_fetchall(sql, params)
        return cast(list[Row], list(rows))

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._conn.execute_fetchall(sql, params)
        for row in rows:
            return row[0]
        return None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def lock(self, name: str) -> None:
        """One writer holds the whole database already."""

    async def notify(self, payload: str) -> None:
        """Nobody else writes this database."""


async def _rollback(conn: aiosqlite.Connection) -> None:
    """End a failed transaction so that the connection can start the next one. After a full
    disk, an I/O error or a read-only file (also when COMMIT itself failed) SQLite may have
    rolled back already, and ROLLBACK then fails: that is the state we want anyway."""
    with contextlib.suppress(sqlite3.Error, ValueError):
        if conn.in_transaction:
            await conn.execute("ROLLBACK")


class SqliteBackend:
    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        try:
            self._reader = await self._connect()
        except BaseException:
            await self.close()
            raise

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        try:
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
        except BaseException:
            await conn.close()  # its thread would otherwise keep the process from exiting
            raise
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConnection]:
        if self._writer is None:
            raise StoreClosed("store is not open")
        writer = self._writer
        async with self._lock:
            await writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteConnection(writer)
                await writer.execute("COMMIT")
            except BaseException:
                await _rollback(writer)
                raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[_SqliteConnection]:
        if self._reader is None:
            raise StoreClosed("store is not open")
        yield _SqliteConnection(self._reader)

    async def migrate(self) -> None:
        async with self.transaction() as conn:
            await apply_migrations(conn, "sqlite")

    def is_transient(self, exc: BaseException) -> bool:
        return False

    async def listen(self, on_notify: Callable[[str], None]) -> None:
        """One process writes a SQLite database: there is nobody to hear from."""

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None
