"""A store's tables read the way an operator's SQL shell reads them: on a connection of its own.

For the few facts no public store method reports (applied migrations, stored callbacks, the
replica table). The SQL must mean the same on SQLite and PostgreSQL; it gets no parameters.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]

SQLITE = "sqlite:///"


async def fetch(database_url: str, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` on the store at ``database_url`` (what ``open_store`` was given;
    a PostgreSQL URL's ``search_path`` query is honoured), as dicts, on a fresh connection."""
    if database_url.startswith(SQLITE):
        async with aiosqlite.connect(database_url.removeprefix(SQLITE)) as conn:
            conn.row_factory = aiosqlite.Row
            async with conn.execute(sql) as cursor:
                return [dict(row) for row in await cursor.fetchall()]
    # asyncpg takes query parameters it does not know (search_path) as server settings.
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return [dict(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()
