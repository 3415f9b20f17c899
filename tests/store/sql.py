"""Raw SQL against a store's database, on a connection of its own: for looking at tables that
no public read shows (migrations, replicas, callbacks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.store import open_backend


async def rows(database_url: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    backend = await open_backend(database_url)
    try:
        async with backend.reader() as conn:
            return [dict(r) for r in await conn.fetch(sql, params)]
    finally:
        await backend.close()
