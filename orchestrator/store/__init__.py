"""Durable state. ``open_store`` picks the backend from the database URL."""

from __future__ import annotations

from orchestrator.store.base import Store, Transaction
from orchestrator.store.sqlite import SqliteBackend, sqlite_path

__all__ = ["Store", "Transaction", "open_store"]


async def open_store(url: str) -> Store:
    """Open (creating if needed) and migrate the store named by ``url``."""
    if url.startswith("sqlite:"):
        backend = SqliteBackend(sqlite_path(url))
        await backend.open()
    else:
        scheme = url.split(":", 1)[0]
        raise ValueError(f"unsupported REELAY_DATABASE_URL scheme {scheme!r}; use sqlite:///")
    store = Store(backend)
    await store.migrate()
    return store
